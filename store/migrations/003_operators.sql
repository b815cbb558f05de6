-- Operators' queries: the queue statistics read on every metrics scrape
-- (count and oldest by status, from the index alone), and the search of
-- mails by cart number without a seller id.
CREATE INDEX delivery_status_created ON delivery (status, created_at);
CREATE INDEX mail_pack_no ON mail (pack_no);
