package dev.jkvm.memory;

import java.nio.file.Path;

/**
 * How guest RAM is backed on the host: QEMU's -mem-path, -mem-prealloc and -machine mem-merge,
 * plus transparent huge pages.
 *
 * @param memPath     a directory (usually hugetlbfs) in which an unlinked backing file is created,
 *                    or null for anonymous memory
 * @param prealloc    fault every page in at start-up so that a short host fails now, not later
 * @param mergeable   let KSM merge identical pages (QEMU's default is on)
 * @param hugePages   ask for transparent huge pages on anonymous memory
 */
public record RamOptions(Path memPath, boolean prealloc, boolean mergeable, boolean hugePages) {
    public static final RamOptions DEFAULT = new RamOptions(null, false, true, true);

    public RamOptions withMemPath(Path path) {
        return new RamOptions(path, prealloc, mergeable, hugePages);
    }

    public RamOptions withPrealloc(boolean on) {
        return new RamOptions(memPath, on, mergeable, hugePages);
    }

    public RamOptions withMergeable(boolean on) {
        return new RamOptions(memPath, prealloc, on, hugePages);
    }

    public RamOptions withHugePages(boolean on) {
        return new RamOptions(memPath, prealloc, mergeable, on);
    }
}
