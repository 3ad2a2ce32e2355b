import JSON
import Testing

/// The one JSON writer: the runtime wrapper's compact text for runc, the commands' output
/// (compact lines, Docker's indented `inspect`), and the escaped forms `scan` looks for.
@Suite struct JSONWriterTests {
    @Test func compactTextKeepsOrderAndNumbers() {
        let value: JSONValue = .object(["b": .integer(18_446_744_073_709_551_615 as UInt64), "a": .array([.null, .bool(true)]), "e": .object([:])])
        #expect(JSONWriter().text(value) == #"{"b":18446744073709551615,"a":[null,true],"e":{}}"#)
    }

    /// Go's `MarshalIndent(v, "", "    ")`, as `docker secret inspect` prints.
    @Test func indentedTextIsDockers() {
        let value: JSONValue = .array([.object(["ID": .string("x"), "Version": .object(["Index": .integer(3)]), "Labels": .object([:]), "L": .array([])])])
        let expected = """
            [
                {
                    "ID": "x",
                    "Version": {
                        "Index": 3
                    },
                    "Labels": {},
                    "L": []
                }
            ]
            """
        #expect(JSONWriter(indent: 4).text(value) == expected)
        #expect(JSONWriter(indent: 4).text(.array([])) == "[]")
    }

    @Test(arguments: [
        (JSONEscaping.Style.plain, #""q\"b\\\n\r\t\u0008\u000c\u001f<>&/é""#),
        (.short, #""q\"b\\\n\r\t\b\f\u001f<>&/é""#),
        (.go, #""q\"b\\\n\r\t\b\f\u001f\u003c\u003e\u0026/é""#),
        (.ascii, #""q\"b\\\n\r\t\b\f\u001f<>&/\u00e9""#),
        (.solidus, #""q\"b\\\n\r\t\u0008\u000c\u001f<>&\/é""#),
    ])
    func stringsAreEscapedInEachStyle(style: JSONEscaping.Style, expected: String) {
        let text = "q\"b\\\n\r\t\u{08}\u{0C}\u{1F}<>&/é"
        #expect(JSONWriter(escaping: style).quoted(text) == expected)
    }

    @Test func goEscapesLineSeparatorsAndAsciiWritesSurrogatePairs() {
        #expect(JSONEscaping.escaped(Array("a\u{2028}b".utf8), .go) == Array(#"a\u2028b"#.utf8))
        #expect(JSONEscaping.escaped(Array("😀".utf8), .ascii) == Array(#"\ud83d\ude00"#.utf8))
        // A byte that is no UTF-8 stays as it is; nothing to escape returns the value itself.
        #expect(JSONEscaping.escaped([0x61, 0xFF], .ascii) == [0x61, 0xFF])
        #expect(JSONEscaping.escaped(Array("plain".utf8), .go) == Array("plain".utf8))
    }

    /// A key repeated in one object: one member (the last value, placed last), and
    /// `repeatedKey` names the first repeat in the order written.
    @Test func aRepeatedKeyKeepsItsLastValueAndIsReported() throws {
        let value = try JSONValue.parse(Array(#"{"a":1,"b":{"x":1,"X":2},"a":2}"#.utf8))
        #expect(JSONWriter().text(value) == #"{"b":{"x":1,"X":2},"a":2}"#)
        #expect(value.repeatedKey == "X")
        #expect(try JSONValue.parse(Array(#"[{"k":1},{"k":1,"k":2}]"#.utf8)).repeatedKey == "k")
    }
}
