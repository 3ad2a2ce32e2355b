// Docker's --format templates (Template.swift, with Output.swift for the table layout): any
// bytes parse to a template or to a one-line error, and a template renders or fails cleanly.
// Input: the template text.
import FuzzSupport
import OrderedCollections

let item = TemplateValue.map([
    "ID": .string("77af4d6b9913"), "Name": .string("db\tpw\n\u{1b}[2J"), "Labels": .string("a=b,c=d"),
    "CreatedAt": .time(1_490_343_309_735_271_783), "Secrets": .list([.string("a"), .string("b")]),
    "Spec": .map(["Name": .string("x"), "Labels": .map(["k": .string("v")])]), "Version": .map(["Index": .number("7")]),
])

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
        let output = try template.output([item, item], headers: ["Name": "NAME"])
        if !template.isTable { require(output.hasSuffix("\n"), "a line without its end") }
    } catch {
        require(error.description.hasPrefix("template: "), "error shape: \(error.description.debugDescription)")
    }
    return 0
}
