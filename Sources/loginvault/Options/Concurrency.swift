import ArgumentParser

/// A concurrency option's value: `auto` (the loader adapts it) or a fixed number.
enum Concurrency: Equatable, ExpressibleByArgument, CustomStringConvertible {
    case auto
    case fixed(Int)

    init?(argument: String) {
        if argument.lowercased() == "auto" {
            self = .auto
        } else if let number = Int(argument) {
            self = .fixed(number)
        } else {
            return nil
        }
    }

    var fixed: Int? {
        if case .fixed(let number) = self { return number }
        return nil
    }

    var description: String {
        switch self {
        case .auto: return "auto"
        case .fixed(let number): return String(number)
        }
    }
}
