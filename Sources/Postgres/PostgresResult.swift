import CLibPQ

/// The rows a command returned, copied out of libpq so they can outlive the
/// command and cross tasks.
public struct PostgresResult: Sendable {
    /// The result columns, in order.
    public let columns: [PostgresColumn]
    /// The rows, in order.
    public let rows: [PostgresRow]
    /// The command tag, e.g. `INSERT 0 3`.
    public let commandTag: String
    /// Rows affected by INSERT/UPDATE/DELETE/COPY/..., when the tag has a count.
    public let affectedRows: Int?

    init(_ result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { index in
            PostgresColumn(name: String(cString: PQfname(result, Int32(index))),
                           typeOID: PQftype(result, Int32(index)))
        }
        let names = Dictionary(columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        let rowCount = Int(PQntuples(result))
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var cells: [PostgresCell] = []
            cells.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    cells.append(PostgresCell(text: nil, typeOID: columns[column].typeOID))
                } else {
                    let value = String(cString: PQgetvalue(result, Int32(row), Int32(column)))
                    cells.append(PostgresCell(text: value, typeOID: columns[column].typeOID))
                }
            }
            rows.append(PostgresRow(cells: cells, columnIndex: names))
        }
        self.columns = columns
        self.rows = rows
        self.commandTag = String(cString: PQcmdStatus(result))
        let tuples = String(cString: PQcmdTuples(result))
        self.affectedRows = Int(tuples)
    }

    /// The first row, if any.
    public var first: PostgresRow? { rows.first }
}

/// A result column's name and type.
public struct PostgresColumn: Sendable, Equatable {
    public let name: String
    public let typeOID: UInt32
}

/// One result row: cells by position (`row[0]`) or by column name (`row["id"]`).
public struct PostgresRow: Sendable {
    public let cells: [PostgresCell]
    let columnIndex: [String: Int]

    public subscript(_ index: Int) -> PostgresCell { cells[index] }

    /// The cell of the named column; a name that is not in the result is a programming error.
    public subscript(_ name: String) -> PostgresCell {
        guard let index = columnIndex[name] else {
            preconditionFailure("no column named \(name) in the result (have: \(columnIndex.keys.sorted()))")
        }
        return cells[index]
    }
}

/// One value of a result, in PostgreSQL's text format, read as a Swift type.
public struct PostgresCell: Sendable, Equatable {
    /// The value as PostgreSQL printed it; `nil` for SQL NULL.
    public let text: String?
    public let typeOID: UInt32

    public var isNull: Bool { text == nil }
    public var string: String? { text }
    public var int: Int? { text.flatMap { Int($0) } }
    public var double: Double? { text.flatMap { Double($0) } }
    public var bool: Bool? {
        switch text {
        case "t", "true": return true
        case "f", "false": return false
        default: return nil
        }
    }

    /// A `bytea` value (`\x` hex format), as bytes.
    public var bytes: [UInt8]? {
        guard let text, text.hasPrefix("\\x") else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity((text.utf8.count - 2) / 2)
        var high: UInt8?
        for c in text.utf8.dropFirst(2) {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { out.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return high == nil ? out : nil
    }
}
