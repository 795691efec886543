# Homebrew formula for rdpshim. This is the template: packaging/release.sh writes the
# formula to publish (target/dist/rdpshim.rb) with the url and sha256 lines below naming
# the release's source tarball; nothing else changes. v0.1.0 is not released yet, hence
# the zero checksum here.
class Rdpshim < Formula
  desc "RDP client that finds a working configuration when mstsc fails with 0x904"
  homepage "https://github.com/rdpshim/rdpshim"
  url "https://github.com/rdpshim/rdpshim/releases/download/v0.1.0/rdpshim-0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]

  depends_on "pkgconf" => :build
  depends_on "rust" => :build
  # Linked for the legacy TLS (1.0/1.1, CBC suites) that rustls refuses. The release
  # tarballs for macOS build OpenSSL in instead (packaging/release.sh --vendored-openssl).
  depends_on "openssl@3"

  def install
    # std_cargo_args: --locked, --root=#{prefix}, --path=client
    system "cargo", "install", *std_cargo_args(path: "client")

    # Rendered by the binary from the same clap definitions it parses with.
    system bin/"rdpshim", "generate", "man", "--out-dir", buildpath/"man"
    man1.install Dir[buildpath/"man/*.1"]
    generate_completions_from_executable(bin/"rdpshim", "generate")
  end

  test do
    assert_equal "rdpshim #{version}", shell_output("#{bin}/rdpshim --version").strip

    # diagnose needs no credentials: nothing listens on port 1, so the verdict is a refused
    # port and the exit code 5 (the server was not reached).
    report = JSON.parse(shell_output("#{bin}/rdpshim diagnose 127.0.0.1:1 --json --timeout 2", 5))
    assert_equal "refused", report["dns"]["addresses"].first["tcp"]
    assert_includes report["found"], "port-refused"

    # An .rdp file as mstsc writes it (UTF-16LE with BOM, CRLF) becomes a profile, and the
    # profile a FreeRDP command line, without a password.
    ENV["RDPSHIM_CONFIG_DIR"] = (testpath/"config").to_s
    rdp = "full address:s:oldserver.example:3390\r\nusername:s:alice\r\n"
    (testpath/"old.rdp").binwrite("\xFF\xFE".b + rdp.encode("UTF-16LE").b)
    system bin/"rdpshim", "import", testpath/"old.rdp"
    export = shell_output("#{bin}/rdpshim profile export oldserver.example:3390 --format freerdp " \
                          "--freerdp-version 2")
    assert_match "/v:oldserver.example:3390", export
    assert_match "/u:alice", export
    refute_match "/p:", export
  end
end
