#!/bin/sh
# Checks the links of the project's own documentation: README.md and docs/*.md (or the files
# given after ROOT). Every relative link must resolve to a file or directory inside the
# repository, and a #fragment must name a heading of the target Markdown file (GitHub's
# anchors). Links to http(s)/mailto are not followed. Text that points outside the repository
# (../shared, SPEC.md) is refused too. Fenced code blocks and `inline code` are skipped.
# Usage: tests/check_links.sh [ROOT [FILE.md...]]   Exit 0 when clean, 1 with one line per problem.
root=${1:-$(dirname "$0")/..}
cd "$root" || { echo "check_links: cannot enter $root"; exit 2; }
root=$(pwd -P)
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
  set -- README.md
  for f in docs/*.md; do [ -f "$f" ] && set -- "$@" "$f"; done
fi

# Prints "LINE<TAB>TARGET" for every inline link of a Markdown file outside code.
links() {
  awk '
    /^[ \t]*```/ { fence = !fence; next }
    fence { next }
    {
      line = $0
      gsub(/`[^`]*`/, "", line)
      while (match(line, /\]\([^)]*\)/)) {
        t = substr(line, RSTART + 2, RLENGTH - 3)
        sub(/[ \t]+"[^"]*"$/, "", t)          # [x](file "title")
        print NR "\t" t
        line = substr(line, RSTART + RLENGTH)
      }
    }' "$1"
}

# Prints the GitHub anchor of every heading of a Markdown file, one a line.
anchors() {
  awk '
    /^[ \t]*```/ { fence = !fence; next }
    fence { next }
    /^#+[ \t]/ {
      h = $0
      sub(/^#+[ \t]+/, "", h); sub(/[ \t#]+$/, "", h)
      h = tolower(h)
      gsub(/[^a-z0-9 _-]/, "", h)
      gsub(/ /, "-", h)
      n = seen[h]++
      print (n ? h "-" n : h)
    }' "$1"
}

bad=0
problem() { echo "$1"; bad=1; }

for md in "$@"; do
  if [ ! -f "$md" ]; then problem "$md: no such file"; continue; fi
  dir=$(dirname "$md")
  grep -n -e '\.\./shared' -e 'SPEC\.md' "$md" | while IFS= read -r hit; do
    echo "$md:${hit%%:*}: refers outside the repository: ${hit#*:}"
  done | grep . && bad=1
  tab=$(printf '\t')
  links "$md" > "${TMPDIR:-/tmp}/check_links.$$"
  while IFS="$tab" read -r ln target; do
    case "$target" in
      http://*|https://*|mailto:*) continue ;;
      '') problem "$md:$ln: empty link"; continue ;;
    esac
    path=${target%%#*}
    frag=
    case "$target" in *'#'*) frag=${target#*#} ;; esac
    if [ -z "$path" ]; then
      file=$md
    else
      case "$path" in /*) problem "$md:$ln: absolute link '$target'"; continue ;; esac
      file="$dir/$path"
      if [ ! -e "$file" ]; then problem "$md:$ln: broken link '$target': no $file"; continue; fi
      real=$(cd "$(dirname "$file")" 2>/dev/null && pwd -P)
      case "$real/" in
        "$root"/*) ;;
        *) problem "$md:$ln: link '$target' leaves the repository"; continue ;;
      esac
    fi
    if [ -n "$frag" ]; then
      case "$file" in
        *.md) anchors "$file" | grep -qxF -- "$frag" ||
                problem "$md:$ln: broken link '$target': no heading '#$frag' in $file" ;;
      esac
    fi
  done < "${TMPDIR:-/tmp}/check_links.$$"
  rm -f "${TMPDIR:-/tmp}/check_links.$$"
done
[ $bad = 0 ] && echo "check_links: $# files, every link resolves"
exit $bad
