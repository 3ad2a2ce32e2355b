// Docker's --format templates (Template.swift, with Output.swift for the table layout): any
// bytes parse to a template or to a one-line error, and a template renders or fails cleanly.
// Input: the template text.
import FuzzSupport
import OrderedCollections

// Built for each input: a global's indirect enum boxes sit behind tagged pointers, which
// LeakSanitizer does not follow (it reported them as leaks).
func item() -> TemplateValue { TemplateValue.map([
    "ID": .string("77af4d6b9913"), "Name": .string("db\tpw\n\u{1b}[2J"), "Labels": .string("a=b,c=d"),
    "CreatedAt": .time(1_490_343_309_735_271_783), "Secrets": .list([.string("a"), .string("b")]),
    "Spec": .map(["Name": .string("x"), "Labels": .map(["k": .string("v")])]), "Version": .map(["Index": .number("7")]),
]) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let text = String(decoding: input.rest(), as: UTF8.self)
    let template: Template
    do { template = try Template(text) } catch {
        require(error.description.hasPrefix("template: "), "error shape: \(error.description.debugDescription)")
        return 0
    }
    do {
        let output = try template.output([item(), item()], headers: ["Name": "NAME"])
        // On bytes: a line ending in "\r" ends in the Character "\r\n", which is no "\n".
        if !template.isTable { require(output.utf8.last == UInt8(ascii: "\n"), "a line without its end") }
    } catch {
        require(error.description.hasPrefix("template: "), "error shape: \(error.description.debugDescription)")
    }
    return 0
}
