-- A line-item retail export (one row per invoice line) mapped onto Kanta's data contract.
-- Cancellations are lines with a negative Quantity (invoice numbers starting with C): they
-- become refunds. Lines without a CustomerID belong to nobody we can follow and are left out.
CREATE VIEW lines AS
SELECT InvoiceNo,
       CustomerID AS customer_id,
       strptime(InvoiceDate, '%m/%d/%Y %H:%M') AS timestamp,
       Quantity * UnitPrice AS amount,
       Country
FROM read_csv('lines.csv', types = {'InvoiceNo': 'VARCHAR', 'CustomerID': 'VARCHAR', 'InvoiceDate': 'VARCHAR'})
WHERE CustomerID IS NOT NULL;

-- One transaction per invoice: its lines summed.
CREATE VIEW transactions AS
SELECT customer_id, timestamp, round(sum(amount), 2) AS amount, InvoiceNo AS transaction_id
FROM lines
GROUP BY customer_id, timestamp, InvoiceNo;

-- The customers the log knows: the first invoice as the signup date, the country as the region.
CREATE VIEW customers AS
SELECT customer_id, CAST(min(timestamp) AS DATE) AS signup_date, mode(Country) AS region
FROM lines
GROUP BY customer_id;
