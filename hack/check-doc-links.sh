#!/usr/bin/env bash
# check-doc-links.sh: fail when a Markdown document links to a file that is not
# in the tree. Without an argument it checks the repository it lives in (make
# lint runs it from the root); pass a directory to check that directory
# instead, which is how the script itself is tested:
#
#   ./hack/check-doc-links.sh            # the repository
#   ./hack/check-doc-links.sh /tmp/x     # any directory, git or not
#
# What it checks:
#   * every governance document linked from README.md exists;
#   * every relative link in every Markdown file resolves to a file or a
#     directory of the tree. Inline links [text](path), images ![alt](path),
#     reference definitions [label]: path, and HTML href="..."/src="..." are
#     read. "#anchors" and "?queries" are stripped; links with a scheme
#     (http:, https:, mailto:, ...) and same-page "#anchor" links are skipped.
#     A leading "/" means the root of the tree, as on GitHub.
#
# In a git work tree, "the tree" is what a clean clone plus your new files
# would contain: `git ls-files --cached --others --exclude-standard`. Ignored
# files (bin/, build output) and empty directories do not count, so a link
# that passes here also passes in CI. Outside git, every file on disk counts.
#
# Fenced code blocks, inline code spans and HTML comments are not read.
# Output: one "FILE:LINE: broken link: TARGET" line per failure; exit 1 if
# there is any, 2 on usage errors, 0 otherwise.
set -euo pipefail

usage() { echo "usage: $0 [DIR]" >&2; exit 2; }
(($# <= 1)) || usage
root=${1:-"$(dirname "${BASH_SOURCE[0]}")/.."}   # default: this repository
[[ -d $root ]] || { echo "check-doc-links: $root: not a directory" >&2; exit 2; }
cd "$root"

# Governance documents README must link to; a missing or unlinked one is an
# error, like a broken link.
governance_docs=(GOVERNANCE.md CODE_OF_CONDUCT.md SECURITY.md RELEASES.md CONTRIBUTING.md ADOPTERS.md)

# ---- the tree: files and the directories that contain them -------------------
declare -A tree_files=() tree_dirs=([.]=1)
md_files=()

add_path() { # add_path REL: record a file and all of its parent directories
  local p=$1 d
  [[ -e $p || -L $p ]] || return 0   # tracked but deleted in the work tree
  tree_files[$p]=1
  d=$p
  while [[ $d == */* ]]; do
    d=${d%/*}
    tree_dirs[$d]=1
  done
  [[ $p == *.md ]] && md_files+=("$p")
  return 0
}

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' p; do add_path "$p"; done \
    < <(git ls-files -z --cached --others --exclude-standard)
else
  while IFS= read -r -d '' p; do add_path "${p#./}"; done \
    < <(find . -name .git -prune -o \( -type f -o -type l \) -print0)
  while IFS= read -r -d '' p; do tree_dirs[${p#./}]=1; done \
    < <(find . -name .git -prune -o -type d -print0)
fi

# ---- link extraction ---------------------------------------------------------
# Prints "LINE<TAB>TARGET" for every link in a Markdown file. POSIX awk (mawk).
extract_links() {
  awk '
    function emit(t) {
      sub(/^[ \t]+/, "", t)
      if (t != "") printf "%d\t%s\n", NR, t
    }
    # Target of an inline link; s starts just after "](".
    function inline_target(s,    c, k, n, depth, t) {
      sub(/^[ \t]+/, "", s)
      if (substr(s, 1, 1) == "<") {
        k = index(s, ">")
        return k ? substr(s, 2, k - 2) : ""
      }
      n = length(s); depth = 0; t = ""
      for (k = 1; k <= n; k++) {
        c = substr(s, k, 1)
        if (c == "(") depth++
        else if (c == ")") { if (depth == 0) break; depth-- }
        else if (c == " " || c == "\t") break
        t = t c
      }
      return t
    }
    {
      line = $0

      # Fenced code blocks: ``` or ~~~, closed by a fence of the same kind.
      if (infence) {
        if (match(line, /^[ \t]*(```+|~~~+)[ \t]*$/)) {
          f = substr(line, RSTART, RLENGTH); gsub(/[ \t]/, "", f)
          if (substr(f, 1, 1) == fch && length(f) >= flen) infence = 0
        }
        next
      }
      if (match(line, /^[ \t]*(```+|~~~+)/)) {
        f = substr(line, RSTART, RLENGTH); gsub(/[ \t]/, "", f)
        fch = substr(f, 1, 1); flen = length(f); infence = 1
        next
      }

      # HTML comments, possibly spanning lines.
      out = ""
      while (1) {
        if (incomment) {
          k = index(line, "-->")
          if (!k) { line = ""; break }
          line = substr(line, k + 3); incomment = 0
        }
        k = index(line, "<!--")
        if (!k) break
        out = out substr(line, 1, k - 1); line = substr(line, k + 4); incomment = 1
      }
      line = out line

      # Inline code spans.
      gsub(/``([^`]|`[^`])*``/, "", line)
      gsub(/`[^`]*`/, "", line)

      # Reference definitions: [label]: target "title" (not footnotes [^1]:).
      if (match(line, /^ *\[[^]^][^]]*\]:/)) {
        t = substr(line, RSTART + RLENGTH)
        sub(/^[ \t]+/, "", t); sub(/[ \t].*$/, "", t)
        if (t ~ /^</) { sub(/^</, "", t); sub(/>$/, "", t) }
        emit(t)
        next
      }

      # Inline links and images: ...](target "title").
      s = line
      while ((k = index(s, "](")) > 0) {
        s = substr(s, k + 2)
        emit(inline_target(s))
      }

      # HTML attributes.
      s = line
      while (match(s, /(href|src)="[^"]*"/)) {
        t = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        sub(/^[a-z]+="/, "", t); sub(/"$/, "", t)
        emit(t)
      }
    }
  ' "$1"
}

# normalize PATH: resolve "." and ".." lexically; prints "" when PATH leaves
# the tree. (No symlink resolution: GitHub does not follow them either.)
normalize() {
  local IFS=/ part
  local -a out=()
  for part in $1; do
    case $part in
      '' | .) ;;
      ..) ((${#out[@]})) || { echo ""; return; }; unset 'out[${#out[@]}-1]' ;;
      *) out+=("$part") ;;
    esac
  done
  local joined="${out[*]}"
  echo "${joined:-.}"
}

# resolves FILE TARGET: 0 when TARGET (a relative link in FILE) is in the tree.
resolves() {
  local file=$1 t=$2 base p
  t=${t%%#*}; t=${t%%\?*}
  [[ $t == *%* ]] && printf -v t '%b' "${t//%/\\x}"
  if [[ $t == /* ]]; then
    p=$t
  else
    base=.
    [[ $file == */* ]] && base=${file%/*}
    p=$base/$t
  fi
  p=$(normalize "$p")
  [[ -n $p ]] || return 1
  [[ -n ${tree_files[$p]:-} || -n ${tree_dirs[$p]:-} ]]
}

is_external() { # links that are not paths into the tree
  [[ $1 == \#* || $1 == //* || $1 =~ ^[A-Za-z][A-Za-z0-9+.-]*: ]]
}

# ---- checks ------------------------------------------------------------------
failures=0
report() { printf '%s:%s: broken link: %s\n' "$1" "$2" "$3"; failures=$((failures + 1)); }

declare -A readme_links=()
for f in "${md_files[@]}"; do
  while IFS=$'\t' read -r lineno target; do
    is_external "$target" && continue
    if [[ $f == README.md ]]; then
      t=$(normalize "${target%%#*}")
      [[ -n $t ]] && readme_links[$t]=1
    fi
    resolves "$f" "$target" || report "$f" "$lineno" "$target"
  done < <(extract_links "$f")
done

# Governance documents: README must link every one of them (the links
# themselves were checked above).
if [[ -n ${tree_files[README.md]:-} ]]; then
  for d in "${governance_docs[@]}"; do
    if [[ -z ${readme_links[$d]:-} ]]; then
      echo "README.md: governance document not linked: $d"
      failures=$((failures + 1))
    fi
  done
fi

if ((failures)); then
  echo "check-doc-links: $failures broken link(s)" >&2
  exit 1
fi
exit 0
