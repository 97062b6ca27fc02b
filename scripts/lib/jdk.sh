# Finds a JDK 22 or newer and exports JAVA_HOME and JAVA for it. Sourced by ./jkvm and scripts/*.
# Order: $JAVA_HOME, the java on PATH, then every JDK under /usr/lib/jvm (newest first).
jkvm_jdk_version() {
    # The release file answers without starting a JVM, which keeps ./jkvm fast.
    local home=$1 v
    [ -x "$home/bin/java" ] || return 1
    if [ -f "$home/release" ]; then
        v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
    fi
    if [ -z "${v:-}" ]; then
        v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    fi
    [ -n "$v" ] && echo "$v"
}

jkvm_find_jdk() {
    local candidates=() home v
    [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
    if command -v java >/dev/null 2>&1; then
        candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
    fi
    for home in $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do
        candidates+=("${home%/}")
    done
    for home in "${candidates[@]}"; do
        v=$(jkvm_jdk_version "$home") || continue
        if [ "$v" -ge 22 ] 2>/dev/null && [ -x "$home/bin/javac" ]; then
            export JAVA_HOME="$home"
            export JAVA="$home/bin/java"
            return 0
        fi
    done
    echo "jkvm: no JDK 22 or newer found (looked at \$JAVA_HOME, PATH and /usr/lib/jvm); install one, e.g. Temurin 25" >&2
    return 1
}
