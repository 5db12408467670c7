"""wsli's platform kit: config, database, events, outbox/inbox, errors, validators, PII, dates."""
import warnings

# eventlet announces its bugfix-only status on import; it is a known, accepted dependency here.
warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
