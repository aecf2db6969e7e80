-- UCI Online Retail (Chen, Sain & Guo 2012; CC BY 4.0, DOI 10.24432/C5BW33) mapped onto Kanta's data contract.
-- invoices.csv.gz holds one row per (invoice, customer) of the lines that have a CustomerID: see README.md.
-- Cancellations (invoice numbers starting with C) carry a negative amount: refunds.
CREATE VIEW invoices AS
SELECT CAST(invoice_no AS VARCHAR)     AS invoice_no,
       CAST(customer_id AS VARCHAR)    AS customer_id,
       CAST(invoice_time AS TIMESTAMP) AS invoice_time,
       CAST(country AS VARCHAR)        AS country,
       CAST(amount AS DOUBLE)          AS amount
FROM read_csv('invoices.csv.gz', header = true, all_varchar = true, delim = ',', quote = '"');

-- One transaction per invoice (an invoice belongs to exactly one customer); the country as the channel.
CREATE VIEW transactions AS
SELECT invoice_no   AS transaction_id,
       customer_id,
       invoice_time AS timestamp,
       amount,
       country      AS channel
FROM invoices;

-- The customers the log knows: the first invoice's date as the signup date, the country as the region
-- (8 customers appear under two countries: the first invoice's country is taken).
CREATE VIEW customers AS
SELECT customer_id,
       CAST(min(invoice_time) AS DATE)     AS signup_date,
       arg_min(country, invoice_time)      AS region
FROM invoices
GROUP BY customer_id;
