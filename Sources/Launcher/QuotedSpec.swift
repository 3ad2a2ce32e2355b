/// The fields of a `--secret` spec that holds a double quote, cut as Docker cuts them.
///
/// Docker reads the value of `--secret` as one record of CSV (its `opts/secret.go` hands it to
/// Go's `encoding/csv` reader with the defaults: comma-separated, no lazy quotes, no trimming),
/// so a field may be quoted to hold a comma: `"source=db","target=a,b"`. The rules are
/// RFC 4180's, as Go applies them:
/// - a field that starts with `"` runs to the next lone `"`, which must be followed by a comma
///   or the end of the spec; inside it `""` is one quote, and commas are plain bytes;
/// - a field that does not start with `"` may not hold one (Go's "bare quote" error), so
///   `target="a,b"` is refused: quote the whole field.
/// Each field is then read as an unquoted one is (`key=value`, or the bare name first).
///
/// One difference, on purpose: Go's reader ends the record at a line break outside quotes and
/// Docker drops what follows; here a line break is a byte like any other, as in a spec without
/// quotes (nothing the user typed is dropped unseen). Specs without a quote never come here:
/// `SecretGrant.parse` cuts them at commas directly.
enum QuotedSpec {
    /// The unquoted fields, in order. Throws a one-line `GrantError` for a bare quote, a quote
    /// that closes a field without ending it, or a quoted field left open (byte positions are
    /// 1-based, as Go's csv errors count them).
    static func fields(_ spec: String) throws(GrantError) -> [String] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ",")
        let bytes = Array(spec.utf8)
        var fields: [String] = []
        var index = 0
        while true {
            guard index < bytes.count, bytes[index] == quote else {
                // Unquoted: up to the next comma. A comma last leaves one empty field (as Go reads
                // `a,` and `"a",`).
                let start = index
                while index < bytes.count, bytes[index] != comma {
                    if bytes[index] == quote {
                        throw GrantError(
                            "bare quote in an unquoted field of '\(spec)' (byte \(index + 1)): quote the whole field, as in \"target=a,b\", and write a quote inside it as \"\"")
                    }
                    index += 1
                }
                fields.append(String(decoding: bytes[start..<index], as: UTF8.self))
                if index == bytes.count { return fields }
                index += 1
                continue
            }
            let opened = index
            index += 1
            var field: [UInt8] = []
            while true {
                guard index < bytes.count else {
                    throw GrantError("the quoted field opened at byte \(opened + 1) of '\(spec)' is not closed")
                }
                let byte = bytes[index]
                index += 1
                guard byte == quote else {
                    field.append(byte)
                    continue
                }
                // `""` is one quote; a lone quote closes the field.
                guard index < bytes.count, bytes[index] == quote else { break }
                field.append(quote)
                index += 1
            }
            fields.append(String(decoding: field, as: UTF8.self))
            if index == bytes.count { return fields }
            guard bytes[index] == comma else {
                throw GrantError(
                    "a quoted field of '\(spec)' closes at byte \(index) without ending there: follow the closing quote with a comma or the end of the spec, and write a quote inside it as \"\"")
            }
            index += 1
        }
    }
}
