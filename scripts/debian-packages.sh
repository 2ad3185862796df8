# Sourced by system-packages.sh and bench-packages.sh: collect the Debian packages whose commands
# are missing, then install them with apt-get when running as root.

missing=()

# need COMMAND PACKAGE: PACKAGE is missing unless COMMAND is on PATH.
need() {
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}

# install_missing PURPOSE STATUS REFUSAL: the last step of a script. Exits 0 when nothing is
# missing; installs what is missing when it can (root with apt-get); otherwise prints REFUSAL and
# exits with STATUS.
install_missing() {
    [ ${#missing[@]} -eq 0 ] && exit 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian packages$1: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "$3" >&2
        exit "$2"
    fi
}
