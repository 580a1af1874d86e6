"""Partners (web shops and CRMs): their channels and inbox, what they share, and one folder per
partner holding the pure translation of its payloads and the use cases that apply them."""
