"""The Bitrix24 tab's words, over the console's own (``api/console/words.py``): what the tab
says that the console does not, in Russian and English."""

from typing import Final

from api.console.words import words

russian: Final[dict[str, str]] = {
    "tab_title": "Бонусы клиента",
    "contact_phone": "Телефон контакта",
    "no_phone": "У контакта нет телефона: бонусный счёт найти не по чему.",
    "no_customer": "Клиента с этим телефоном в программе нет.",
    "tier": "Уровень",
    "balance": "Баланс",
    "available": "Доступно",
    "pending": "Ожидает",
    "reserved": "В резерве",
    "expiring": "Сгорают",
    "nothing_expiring": "Ничего не сгорает.",
    "writeoff_title": "Списать баллы по сделке",
    "writeoff_hint": "Баллы спишутся, когда портал сообщит об изменении сделки.",
    "writeoff": "Списать",
    "writeoff_requested": "Запрошено списание {points} баллов по сделке.",
    "bad_points": "Укажите целое число баллов больше нуля.",
    "done_card_issue": "Карта выдана.",
    "done_card_block": "Карта заблокирована.",
    "done_card_unblock": "Карта разблокирована.",
    "not_verified": "Запрос не подтверждён порталом Битрикс24.",
    "portal_down": "Портал Битрикс24 не ответил; откройте вкладку ещё раз.",
    "bad_request": "Запрос вкладки не прочитан",
    "forbidden": "Форма устарела или пришла не из вкладки: откройте вкладку ещё раз.",
    "unavailable": "Сервис временно недоступен; откройте вкладку ещё раз через минуту.",
}

english: Final[dict[str, str]] = {
    "tab_title": "Customer's points",
    "contact_phone": "Contact's phone",
    "no_phone": "The contact has no phone: there is nothing to find the account by.",
    "no_customer": "No customer of the program has this phone.",
    "tier": "Tier",
    "balance": "Balance",
    "available": "Available",
    "pending": "Pending",
    "reserved": "Reserved",
    "expiring": "Expiring",
    "nothing_expiring": "Nothing expires.",
    "writeoff_title": "Write points off on the deal",
    "writeoff_hint": "The points are spent once the portal reports the deal's change.",
    "writeoff": "Write off",
    "writeoff_requested": "{points} points requested to be written off on the deal.",
    "bad_points": "Give a whole number of points above zero.",
    "done_card_issue": "Card issued.",
    "done_card_block": "Card blocked.",
    "done_card_unblock": "Card unblocked.",
    "not_verified": "The request was not confirmed by the Bitrix24 portal.",
    "portal_down": "The Bitrix24 portal did not answer; open the tab again.",
    "bad_request": "The tab's request cannot be read",
    "forbidden": "The form is stale or did not come from the tab: open the tab again.",
    "unavailable": "The service is unavailable for a moment; open the tab again in a minute.",
}

catalogues: Final = {"ru": russian, "en": english}


def tab_words(locale: str) -> dict[str, str]:
    return words(locale) | catalogues.get(locale, russian)
