// CScanning's C calls libarchive; its link lines reach the linker only through a Swift module
// that imports it (see Namespaces/LinkedLibraries.swift).
import CArchive
