import Namespaces
import Testing

/// The byte-wise prefix, suffix and containment tests of `run`'s path: what `hasPrefix` and
/// `hasSuffix` answer for ASCII affixes, and what getopt and execvp answer (bytes) where a
/// combining mark follows.
@Suite struct UTF8AffixTests {
    @Test func prefixes() {
        #expect("--secret".hasUTF8Prefix("--"))
        #expect("-e".hasUTF8Prefix("-"))
        #expect(!"secret".hasUTF8Prefix("-"))
        #expect(!"".hasUTF8Prefix("-"))
        #expect("x".hasUTF8Prefix(""))
        #expect("-\u{301}x".hasUTF8Prefix("-"))  // a Character-wise hasPrefix says no
        #expect("PATH=/bin"[...].hasUTF8Prefix("PATH="))
    }

    @Test func suffixes() {
        #expect("/usr/bin/secretshim-runtime".hasUTF8Suffix("/secretshim-runtime"))
        #expect(!"secretshim-runtime".hasUTF8Suffix("/secretshim-runtime"))
        #expect(!"/usr/bin/secretshim".hasUTF8Suffix("/secretshim-runtime"))
        #expect("a/".hasUTF8Suffix("/"))
        #expect(!"".hasUTF8Suffix("/"))
    }

    @Test func containment() {
        #expect("/bin/true".containsUTF8(UInt8(ascii: "/")))
        #expect(!"true".containsUTF8(UInt8(ascii: "/")))
    }

    @Test func commandsWithASlashAreNotSearched() {
        #expect(Exec.resolve("./nowhere/x", searchPath: "/bin") == "./nowhere/x")
        #expect(Exec.resolve("sh", searchPath: "/nonexistent:/bin") == "/bin/sh")
        #expect(Exec.resolve("no-such-command-here", searchPath: "/bin") == nil)
    }
}
