-- A neutralized copy of a database must never act on the real KSeF: forget the secrets of
-- production tokens (the tokens themselves stay listed for reference) and move companies off
-- production. The addon also refuses production secrets while database.is_neutralized is set.
UPDATE ksef_token
   SET secret_ciphertext = NULL
 WHERE environment = 'prod';
UPDATE res_company
   SET ksef_environment = 'test'
 WHERE ksef_environment = 'prod';
-- and the cached KSeF sessions (access and refresh JWTs) of the original database
DELETE FROM ksef_session;
-- every other place a sealed secret or a KSeF login can rest: pasted tokens of unfinished
-- import and Sandbox wizards, signed authentication requests of unfinished generations, and
-- the secrets kept by the generation journal until a token is stored
UPDATE ksef_token_import SET token_sealed = NULL;
UPDATE ksef_sandbox_token SET token_sealed = NULL;
UPDATE ksef_token_generate SET token_sealed = NULL, signed_file = NULL, auth_request = NULL;
UPDATE ksef_pending_generation SET secret_sealed = NULL;
-- KSeF certificates: a copy never signs as the production identity
UPDATE ksef_certificate
   SET secret_ciphertext = NULL
 WHERE environment = 'prod';
-- certificate requests in progress hold a sealed KSeF session
DELETE FROM ksef_certificate_request;
-- downloaded private keys (PKCS#12) and their passwords
DELETE FROM ksef_certificate_export;
