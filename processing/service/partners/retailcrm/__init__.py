"""RetailCRM: API v5 translation, the orders it applies and the custom fields it installs."""
