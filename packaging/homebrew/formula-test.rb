# Runs the formula's `test do` block against a built rdpshim without Homebrew (CI is
# Debian): a stand-in for the few Formula methods the formula uses, with Homebrew's
# assertions (Minitest). The install block is not run; brew itself is not tried here.
#
#   ruby packaging/homebrew/formula-test.rb FORMULA.rb BIN_DIR VERSION
require "English"
require "json"
require "minitest"
require "pathname"
require "tmpdir"

# What the formula's class body calls, recorded or ignored.
class Formula
  include Minitest::Assertions
  attr_accessor :assertions

  class << self
    attr_reader :test_block, :fields

    def field(name, value) = (@fields ||= {})[name] = value
    def desc(text) = field(:desc, text)
    def homepage(text) = field(:homepage, text)
    def url(text) = field(:url, text)
    def sha256(text) = field(:sha256, text)
    def license(text) = field(:license, text)
    def depends_on(*) = nil
    def test(&block) = @test_block = block
  end

  def initialize(bin, version, testpath)
    @bin = Pathname(bin)
    @version = version
    @testpath = Pathname(testpath)
    self.assertions = 0
  end

  attr_reader :bin, :version, :testpath

  # Homebrew's: the command's standard output; the test fails unless it exits `status`.
  def shell_output(cmd, status = 0)
    output = IO.popen(cmd, &:read)
    assert_equal status, $CHILD_STATUS.exitstatus, "#{cmd} exited #{$CHILD_STATUS.exitstatus}"
    output
  end

  # Homebrew's `system` inside a test fails the test when the command fails.
  def system(*args)
    assert Kernel.system(*args.map(&:to_s)), "#{args.join(' ')} failed"
  end
end

formula, bin_dir, version = ARGV
abort "usage: formula-test.rb FORMULA.rb BIN_DIR VERSION" unless version
load formula
klass = Object.const_get(:Rdpshim)
abort "#{formula} has no test block" unless klass.test_block
bin_dir = File.expand_path(bin_dir)
Dir.mktmpdir("rdpshim-formula-test") do |dir|
  saved = ENV.to_h
  Dir.chdir(dir) do
    instance = klass.new(bin_dir, version, dir)
    instance.instance_eval(&klass.test_block)
    puts "#{formula}: test block passed (#{instance.assertions} assertions)"
  end
ensure
  ENV.replace(saved)
end
