# bash completion for maestro (installed by `make install` into
# $(PREFIX)/share/bash-completion/completions/maestro). Commands, each command's options, the
# values of options that take a fixed set, and YAML/JSON files where a file is expected.
_maestro() {
    local cur prev cmd opts
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local commands="run execute validate graph describe bench stub serve runs show resume compensate version help"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi
    cmd=${COMP_WORDS[1]}
    case $cmd in
        run|execute) opts="--input --report --log-level --log-format --set --timeout --quiet -q --progress --no-progress --dry-run --journal --no-journal --retain --help";;
        validate) opts="--stub --format -f --help";;
        graph) opts="--format -f --help";;
        bench) opts="--input --runs -n --concurrency -c --json --set --timeout --log-level --journal --help";;
        runs) opts="--all --json --journal --help";;
        show) opts="--journal --help";;
        resume|compensate) opts="--all --force --journal --quiet --help";;
        stub) opts="--log --check --help";;
        serve) opts="--listen --max-runs --set --drain --journal --no-journal --log-level --log-format --max-body --max-conns --request-timeout --idle-timeout --keep-runs --help";;
        describe) opts="--set --help";;
        help) COMPREPLY=($(compgen -W "run execute validate graph describe bench stub serve runs show resume compensate" -- "$cur")); return;;
        *) return;;
    esac
    case $prev in
        --log-level) COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return;;
        --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return;;
        --format|-f)
            if [ "$cmd" = validate ]; then COMPREPLY=($(compgen -W "text pretty json" -- "$cur"))
            else COMPREPLY=($(compgen -W "dot mermaid svg png" -- "$cur")); fi
            return;;
        --set)
            # service.NAME.endpoint= for each service of the workflow named on the line
            local w f= names=
            for w in "${COMP_WORDS[@]:2}"; do
                case $w in *.yaml|*.yml) [ -f "$w" ] && { f=$w; break; };; esac
            done
            [ -n "$f" ] && names=$(awk '/^services:/ {s=1; next} /^[^ #]/ {s=0}
                s && /^  [A-Za-z0-9_-]+:/ {n=$1; sub(":.*", "", n); print "service." n ".endpoint="}' "$f")
            COMPREPLY=($(compgen -W "${names:-service.}" -- "$cur"))
            compopt -o nospace 2>/dev/null
            return;;
        --report|--log) COMPREPLY=($(compgen -f -- "$cur")); return;;
        --journal) COMPREPLY=($(compgen -d -- "$cur")); return;;
        --input|--timeout|--runs|-n|--concurrency|-c|--retain) return;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    # a workflow or stub file: YAML files and directories
    COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
}
complete -o filenames -F _maestro maestro
