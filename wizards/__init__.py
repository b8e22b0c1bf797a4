from . import ksef_token_import
from . import ksef_token_generate
