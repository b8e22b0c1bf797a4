from . import ksef_token_import
