# The CLI samples: `twofold` is this repository's bin (run from source), the working directory a
# scratch folder (with a data/ folder for the SQLite sample), and $SECRET a base32 secret.
twofold() { node "$TWOFOLD_DOCS_ROOT/packages/cli/bin/twofold.js" "$@"; }
SECRET=JBSWY3DPEHPK3PXP
cd "$TWOFOLD_DOCS_TMP"
mkdir -p data
