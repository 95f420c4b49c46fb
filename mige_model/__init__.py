"""An independent implementation of MIGE inference that loads the authors' released weights."""
