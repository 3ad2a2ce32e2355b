import SecretStore
import Testing

/// Secret names and IDs: the names a store accepts, and the IDs it makes.
@Suite struct SecretNameTests {
    @Test(arguments: ["db", "A1", "api.key", "a-b_c.d"]) func validNames(name: String) {
        #expect(SecretRules.isValidName(name))
    }

    @Test(arguments: ["", "-x", "x-", "a b", "ä", String(repeating: "a", count: 65)]) func invalidNames(name: String) {
        #expect(!SecretRules.isValidName(name))
    }

    @Test func idsAreTwentyFiveBase36Characters() {
        let ids = (0..<200).map { _ in SecretID.generate() }
        #expect(Set(ids).count == 200)
        #expect(ids.allSatisfy(SecretID.isWellFormed))
    }
}
