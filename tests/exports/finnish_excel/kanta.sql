-- An Excel export in Finnish format: semicolons, decimal commas and dates like 31.12.2024.
-- Customer numbers keep their leading zeros as text; names, e-mails and phones stay out.
CREATE VIEW transactions AS
SELECT Asiakasnumero AS customer_id,
       "Ostopäivä" AS timestamp,
       "Summa €" AS amount,
       Kanava AS channel,
       "Tuoteryhmä" AS category
FROM read_csv('ostot.csv', delim = ';', decimal_separator = ',', dateformat = '%d.%m.%Y',
              types = {'Asiakasnumero': 'VARCHAR'});

CREATE VIEW customers AS
SELECT Asiakasnumero AS customer_id,
       "Liittymispäivä" AS signup_date,
       Markkinointilupa AS marketing_permission,
       Postinumero AS postal_code
FROM read_csv('asiakkaat.csv', delim = ';', dateformat = '%d.%m.%Y',
              types = {'Asiakasnumero': 'VARCHAR', 'Postinumero': 'VARCHAR'});
