import Crypto
import Foundation

/// What of an SQL script's text counts for its checksum.
public enum SQLText {
    /// The script without its comments (`-- ...` to the end of the line and
    /// `/* ... */`, nested), with trailing blanks removed and empty lines dropped.
    /// Comments inside quoted text are kept: in a string, a quoted identifier or
    /// a dollar-quoted body (a function's body, comments included, is what the
    /// database stores, so a change to it is a change).
    public static func withoutComments(_ sql: String) -> String {
        let text = Array(sql.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func starts(_ s: String, at index: Int) -> Bool {
            let scalars = Array(s.unicodeScalars)
            guard index + scalars.count <= text.count else { return false }
            return Array(text[index..<index + scalars.count]) == scalars
        }
        while i < text.count {
            let c = text[i]
            if starts("--", at: i) {
                while i < text.count, text[i] != "\n" { i += 1 }
                continue
            }
            if starts("/*", at: i) {
                var depth = 0
                repeat {
                    if starts("/*", at: i) { depth += 1; i += 2 }
                    else if starts("*/", at: i) { depth -= 1; i += 2 }
                    else { i += 1 }
                } while depth > 0 && i < text.count
                out.append(" ")
                continue
            }
            if c == "'" || c == "\"" {
                // E'...' strings escape with a backslash; others double the quote.
                let escapes = c == "'" && i > 0 && (text[i - 1] == "E" || text[i - 1] == "e")
                out.append(c); i += 1
                while i < text.count {
                    if escapes, text[i] == "\\", i + 1 < text.count { out.append(text[i]); out.append(text[i + 1]); i += 2; continue }
                    if text[i] == c {
                        if i + 1 < text.count, text[i + 1] == c { out.append(c); out.append(c); i += 2; continue }
                        break
                    }
                    out.append(text[i]); i += 1
                }
                if i < text.count { out.append(text[i]); i += 1 }
                continue
            }
            if c == "$", let tag = dollarTag(text, at: i) {
                let end = find(tag, in: text, from: i + tag.count) ?? text.count
                let stop = min(text.count, end + tag.count)
                out.append(contentsOf: text[i..<stop])
                i = stop
                continue
            }
            out.append(c); i += 1
        }
        return String(out).split(separator: "\n", omittingEmptySubsequences: false)
            .map { line -> Substring in
                var line = line
                while let last = line.last, last == " " || last == "\t" || last == "\r" { line = line.dropLast() }
                return line
            }
            .filter { !$0.isEmpty }
            .joined(separator: "\n")
    }

    /// The SHA-256 of the script without comments, lowercase hex.
    public static func checksum(_ sql: String) -> String {
        hex(SHA256.hash(data: Data(withoutComments(sql).utf8)))
    }

    /// The SHA-256 of the bytes, lowercase hex.
    public static func checksum(bytes: Data) -> String { hex(SHA256.hash(data: bytes)) }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// `$tag$` or `$$` starting at `index` (a `$1` parameter is not one).
    private static func dollarTag(_ text: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var j = index + 1
        if j < text.count, ("0"..."9").contains(text[j]) { return nil }
        while j < text.count, text[j] == "_" || ("a"..."z").contains(text[j]) || ("A"..."Z").contains(text[j]) { j += 1 }
        guard j < text.count, text[j] == "$" else { return nil }
        return Array(text[index...j])
    }

    private static func find(_ tag: [Unicode.Scalar], in text: [Unicode.Scalar], from start: Int) -> Int? {
        guard tag.count <= text.count else { return nil }
        var i = start
        while i + tag.count <= text.count {
            if text[i] == tag[0], Array(text[i..<i + tag.count]) == tag { return i }
            i += 1
        }
        return nil
    }
}
