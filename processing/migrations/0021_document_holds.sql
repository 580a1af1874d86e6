-- A CRM order or deal gives back what it actually spent when it is cancelled or lost, whatever
-- its points field says by then: the channel finds the holds its documents reserved (one
-- order's, or every write-off of one deal, by the documents' common prefix) in the ledger.
create index holds_document on holds (program_id, document_id text_pattern_ops);
