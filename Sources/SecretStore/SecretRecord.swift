/// A secret's metadata: everything about it but its value.
public struct SecretRecord: Sendable, Equatable {
    public let id: String
    public let name: String
    /// The store-wide index at creation, Swarm's `Version.Index`; part of the sealing's
    /// associated data.
    public let version: Int64
    /// Nanoseconds since the Unix epoch.
    public let createdAt: Int64
    public let updatedAt: Int64
    /// Sorted by key.
    public let labels: [Label]

    public struct Label: Sendable, Equatable {
        public let key: String
        public let value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    package init(id: String, name: String, version: Int64, createdAt: Int64, updatedAt: Int64, labels: [Label]) {
        self.id = id
        self.name = name
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.labels = labels
    }

    public func label(_ key: String) -> String? { labels.first { $0.key == key }?.value }
}
