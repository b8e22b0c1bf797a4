-- A neutralized copy of a database must never act on the real KSeF: forget the secrets of
-- production tokens (the tokens themselves stay listed for reference) and move companies off
-- production. The addon also refuses production secrets while database.is_neutralized is set.
UPDATE ksef_token
   SET secret_ciphertext = NULL,
       has_secret = false
 WHERE environment = 'prod';
UPDATE res_company
   SET ksef_environment = 'test'
 WHERE ksef_environment = 'prod';
-- and the cached KSeF sessions (access and refresh JWTs) of the original database
DELETE FROM ksef_session;
