/// A JSON object written straight into bytes, for the requests a drain sends on
/// every message (ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch):
/// `JSONEncoder` cost about 6% of the loader's CPU on them. Members are written
/// in the order given (the callers give them sorted, as the encoder wrote them);
/// strings are escaped as RFC 8259 requires, `/` and non-ASCII left as they are.
struct JSONBodyWriter {
    private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var empty = true

    init() {}

    mutating func member(_ name: String, _ value: String) {
        key(name)
        Self.append(value, to: &bytes)
    }

    mutating func member(_ name: String, _ value: Int) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func member(_ name: String, _ values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.append(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// An array of objects, each written by `write`.
    mutating func member<C: Collection>(_ name: String, objects: C, _ write: (inout JSONBodyWriter, C.Element) -> Void) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, element) in objects.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            var object = JSONBodyWriter()
            write(&object, element)
            bytes.append(contentsOf: object.finished())
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// The object's bytes, closed.
    func finished() -> [UInt8] {
        bytes + [UInt8(ascii: "}")]
    }

    private mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        Self.append(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// `value` as a JSON string literal.
    static func append(_ value: String, to bytes: inout [UInt8]) {
        let hexDigits: StaticString = "0123456789abcdef"
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hexDigits.utf8Start[Int(byte >> 4)])
                bytes.append(hexDigits.utf8Start[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
