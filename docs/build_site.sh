#!/usr/bin/env bash
# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# make docs: lint the collection's docs and build the HTML site with antsibull-docs and Sphinx, offline.
#
#   docs/build_site.sh [BIN]     BIN: folder with antsibull-docs, sphinx-build and ansible-doc
#                                (default .venv-ecosystem/bin, installed from docs/requirements.txt)
#
# The collection is documented from a copy of the files git tracks (docs/build/collections/...),
# so a new file shows up once it is `git add`ed. The site lands in docs/build/html/index.html; its landing
# page is docs/landing.rst.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${1:-.venv-ecosystem/bin}" && pwd)
OUT=$PWD/docs/build
NS=$(sed -n 's/^namespace: *//p' galaxy.yml) NAME=$(sed -n 's/^name: *//p' galaxy.yml)
COLL=$OUT/collections/ansible_collections/$NS/$NAME
SPHINX=$OUT/sphinx

rm -rf "$OUT"
mkdir -p "$COLL"
git ls-files -z --cached | while IFS= read -r -d '' file; do
    if [ -f "$file" ]; then cp --parents -p "$file" "$COLL"; fi
done
export PATH="$BIN:$PATH" ANSIBLE_COLLECTIONS_PATH="$OUT/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false

echo "=== antsibull-docs lint-collection-docs --plugin-docs"
antsibull-docs lint-collection-docs --plugin-docs "$COLL"

echo "=== antsibull-docs sphinx-init"
mkdir -m 0755 "$SPHINX"
antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir "$SPHINX" \
    --project "$NS.$NAME" --copyright "$NS.$NAME maintainers" \
    --title "$NS.$NAME documentation" --html-short-title "$NS.$NAME" "$NS.$NAME"
# Offline: no intersphinx inventories. The two labels of Ansible's docs that generated pages refer to
# get a local page pointing to them, so the build stays strict (-W).
echo 'intersphinx_mapping = {}  # offline build (docs/build_site.sh)' >> "$SPHINX/conf.py"
mkdir -p "$SPHINX/rst"
# The landing page: ours (what the collection is, install, a first playbook, the guides) in place of
# sphinx-init's "Welcome to my Ansible collection documentation".
cp "$COLL/docs/landing.rst" "$SPHINX/rst/index.rst"
cat > "$SPHINX/rst/ansible_references.rst" <<'RST'
:orphan:

Ansible documentation
=====================

.. _common_return_values:

Return values common to all modules
-----------------------------------

See `Return Values <https://docs.ansible.com/ansible/latest/reference_appendices/common_return_values.html>`_
in the Ansible documentation.

.. _ansible_configuration_settings:

Ansible configuration settings
------------------------------

See `Ansible Configuration Settings <https://docs.ansible.com/ansible/latest/reference_appendices/config.html>`_
in the Ansible documentation.

.. The environment variables of Ansible's own settings that plugin pages name (the inventory cache options).

.. envvar:: ANSIBLE_CACHE_PLUGIN
.. envvar:: ANSIBLE_CACHE_PLUGIN_CONNECTION
.. envvar:: ANSIBLE_CACHE_PLUGIN_PREFIX
.. envvar:: ANSIBLE_CACHE_PLUGIN_TIMEOUT
.. envvar:: ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED

   Settings of ansible-core, described in its configuration settings above.
RST

echo "=== antsibull-docs collection + sphinx-build (warnings are errors)"
# build.sh from sphinx-init: antsibull-docs collection --cleanup everything would remove our page, so keep it aside
mv "$SPHINX/rst/ansible_references.rst" "$SPHINX/ansible_references.rst.keep"
sed -i 's|^sphinx-build |mv ansible_references.rst.keep rst/ansible_references.rst \&\& sphinx-build |' "$SPHINX/build.sh"
bash "$SPHINX/build.sh"
ln -sfn sphinx/build/html "$OUT/html"
echo "site: $OUT/html/index.html"
