import Foundation

/// An AWS shared config or credentials file (`~/.aws/config`, `~/.aws/credentials`): INI
/// sections of `key = value` lines, as botocore reads them.
///
/// Comments are whole lines starting with `#` or `;`. Keys are case-insensitive (lower-cased).
/// A key with an empty value followed by indented lines is a nested block
/// (`sqs =\n  endpoint_url = ...`); its entries are stored as `parent.child`.
public struct SharedConfigFile: Sendable, Equatable {
    /// Section name (as written between the brackets, trimmed) → key → value.
    public var sections: [String: [String: String]]

    public init(sections: [String: [String: String]] = [:]) {
        self.sections = sections
    }

    /// Parses the text of a file.
    public init(parsing text: String) {
        var sections: [String: [String: String]] = [:]
        var current: String?
        var nestedParent: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            let indented = rawLine.first == " " || rawLine.first == "\t"
            if line.hasPrefix("[") && line.hasSuffix("]") && !indented {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                nestedParent = nil
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if indented, let parent = nestedParent {
                sections[section]![parent + "." + key] = value
            } else {
                sections[section]![key] = value
                nestedParent = value.isEmpty ? key : nil
            }
        }
        self.sections = sections
    }

    /// Reads and parses a file; `nil` if it does not exist.
    public static func load(path: String) throws -> SharedConfigFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return SharedConfigFile(parsing: String(decoding: data, as: UTF8.self))
    }

    /// A profile of a credentials file: the section named exactly `profile`.
    public func credentialsProfile(_ profile: String) -> [String: String]? {
        sections[profile]
    }

    /// A profile of a config file: `[profile NAME]`, or `[default]` for "default".
    public func configProfile(_ profile: String) -> [String: String]? {
        if let section = sections["profile " + profile] { return section }
        return profile == "default" ? sections["default"] : nil
    }

    /// A `[services NAME]` section of a config file.
    public func servicesSection(_ name: String) -> [String: String]? {
        sections["services " + name]
    }
}
