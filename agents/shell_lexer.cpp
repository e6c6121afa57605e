// The shell parser behind the tool-call signals. It follows the POSIX grammar closely enough to
// find every simple command a line runs; where it cannot be sure (an unbalanced quote, a limit),
// it says so in `unresolved` and stops, so the caller fails towards asking.
#include "shell_lexer.h"

#include <algorithm>
#include <set>
#include <utility>

namespace stepgate {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool is_meta(char c) {
  return is_blank(c) || c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' || c == '>' ||
         c == '(' || c == ')';
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reserved words that only open or close a compound command: the simple command starts after.
bool is_passthrough_word(std::string_view w) {
  static const std::set<std::string_view> kWords = {"{",     "}",     "!",    "if",    "then",
                                                    "else",  "elif",  "fi",   "do",    "done",
                                                    "while", "until", "esac", "coproc"};
  return kWords.contains(w);
}

void add_reason(ShellParse& out, std::string_view id) {
  if (std::find(out.unresolved.begin(), out.unresolved.end(), id) == out.unresolved.end()) {
    out.unresolved.emplace_back(id);
  }
}

/// Decodes one `$'...'` escape at text[i] (just past the backslash); returns the new index.
std::size_t decode_ansi_escape(std::string_view text, std::size_t i, std::string& out) {
  if (i >= text.size()) return i;
  const char c = text[i];
  auto take_digits = [&](std::size_t max, int base) {
    int value = 0;
    std::size_t n = 0;
    while (n < max && i + n < text.size()) {
      const char d = text[i + n];
      int v = -1;
      if (d >= '0' && d <= '9') v = d - '0';
      if (base == 16 && d >= 'a' && d <= 'f') v = d - 'a' + 10;
      if (base == 16 && d >= 'A' && d <= 'F') v = d - 'A' + 10;
      if (v < 0 || v >= base) break;
      value = value * base + v;
      ++n;
    }
    out += static_cast<char>(value);
    return i + n;
  };
  switch (c) {
    case 'n':
      out += '\n';
      return i + 1;
    case 't':
      out += '\t';
      return i + 1;
    case 'r':
      out += '\r';
      return i + 1;
    case 'a':
      out += '\a';
      return i + 1;
    case 'b':
      out += '\b';
      return i + 1;
    case 'f':
      out += '\f';
      return i + 1;
    case 'v':
      out += '\v';
      return i + 1;
    case 'e':
    case 'E':
      out += '\x1b';
      return i + 1;
    case 'x':
      ++i;
      return take_digits(2, 16);
    default:
      break;
  }
  if (c >= '0' && c <= '7') return take_digits(3, 8);
  out += c;  // \\ \' \" \? and anything else: the character itself
  return i + 1;
}

class Parser {
 public:
  Parser(std::string_view src, ShellEnv& env, int depth, ShellParse& out)
      : src_(src), env_(env), depth_(depth), out_(out) {}

  void run() {
    parse_list(false);
    if (!done() && !out_.stopped) fail("unbalanced-paren");
  }

 private:
  struct PendingHeredoc {
    std::size_t step;
    std::string delimiter;
    bool strip_tabs;
    bool quoted;
  };

  [[nodiscard]] bool done() const { return pos_ >= src_.size() || out_.stopped; }
  [[nodiscard]] char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }

  void fail(std::string_view id) {
    add_reason(out_, id);
    out_.stopped = true;
  }

  void skip_blanks() {
    while (!done()) {
      if (is_blank(peek())) {
        ++pos_;
      } else if (peek() == '\\' && peek(1) == '\n') {
        pos_ += 2;
      } else {
        return;
      }
    }
  }

  void skip_comment() {
    while (!done() && peek() != '\n') ++pos_;
  }

  // A list up to `)` (closing) or the end. Separators: ; & && || newline (and case's ;; ;&).
  void parse_list(bool closing) {
    while (!done()) {
      skip_blanks();
      if (done()) break;
      const char c = peek();
      if (c == '#') {
        skip_comment();
      } else if (c == '\n') {
        ++pos_;
        read_heredocs();
      } else if (c == ';' || c == '&' || c == '|') {
        ++pos_;
        if (peek() == ';' || peek() == '&' || peek() == '|') ++pos_;
      } else if (c == ')') {
        if (closing) {
          ++pos_;
          return;
        }
        return;  // run() reports the stray parenthesis
      } else {
        parse_pipeline();
      }
    }
    if (closing && !out_.stopped) fail("unbalanced-paren");
  }

  void parse_pipeline() {
    const int id = out_.pipelines++;
    int position = 0;
    while (!done()) {
      skip_blanks();
      if (position > 0) enter();
      parse_command(id, position);
      if (position > 0) leave();
      skip_blanks();
      if (peek() != '|' || peek(1) == '|') return;
      pos_ += peek(1) == '&' ? 2 : 1;
      ++position;
      while (!done() && (is_blank(peek()) || peek() == '\n')) ++pos_;
    }
  }

  bool nest() {
    if (depth_ + 1 > kMaxShellDepth) {
      fail("limit-depth");
      return false;
    }
    ++depth_;
    return true;
  }

  void enter() { out_.steps.push_back({ShellStep::Kind::kEnter, {}}); }
  void leave() { out_.steps.push_back({ShellStep::Kind::kLeave, {}}); }

  // ( list ) as a subshell; the redirections after it apply to the whole group (they are kept
  // on the command being built, which then has no words).
  void parse_subshell() {
    ++pos_;
    run_nested_list();
  }

  // At the start of a command inside `case ... in`: a pattern list `[(] P [| P]... )` is no
  // command; `esac` closes the case. Anything else is an ordinary command (parsed again).
  void skip_case_pattern() {
    const std::size_t start = pos_;
    const std::size_t steps = out_.steps.size();
    const std::size_t commands = out_.commands;
    skip_blanks();
    if (peek() == '(') ++pos_;
    for (bool first = true; !done(); first = false) {
      skip_blanks();
      const ShellWord word = lex_word();
      if (out_.stopped) return;
      if (first && !word.quoted && word.text == "esac") {
        --case_depth_;
        return;
      }
      skip_blanks();
      if (peek() == '|' && peek(1) != '|') {
        ++pos_;
        continue;
      }
      if (peek() == ')' && !word.text.empty()) {
        ++pos_;
        return;
      }
      break;
    }
    pos_ = start;
    out_.steps.resize(steps);
    out_.commands = commands;
  }

  // (( arithmetic )) : skipped (its text runs no command in the forms agents write).
  // A parenthesised text that is no command list: `(( arithmetic ))`, `$(( ... ))`, an array
  // `X=( ... )`. Skipped to the matching parenthesis; the command substitutions inside it still
  // run, so they are parsed.
  void skip_arithmetic() {
    const std::size_t start = pos_;
    int level = 0;
    while (!done()) {
      const char c = src_[pos_++];
      if (c == '(') ++level;
      if (c == ')' && --level == 0) {
        parse_substitutions_in(src_.substr(start, pos_ - start));
        return;
      }
    }
    fail("unbalanced-paren");
  }

  void parse_substitutions_in(std::string_view text) {
    if (text.find("$(") == std::string_view::npos && text.find('`') == std::string_view::npos) {
      return;
    }
    if (!nest()) return;
    ShellWord ignored;
    Parser nested(text, env_, depth_, out_);
    nested.lex_double_quoted(ignored, true);
    --depth_;
  }

  bool at_redirect() const {
    std::size_t i = pos_;
    while (i < src_.size() && is_digit(src_[i])) ++i;
    if (i >= src_.size()) return false;
    const char c = src_[i];
    if (c == '&' && i == pos_ && i + 1 < src_.size() && src_[i + 1] == '>') return true;
    if (c != '<' && c != '>') return false;
    return !(i == pos_ && i + 1 < src_.size() && src_[i + 1] == '(');  // <( ) is a word
  }

  void parse_redirect(ShellCommand& cmd, std::vector<PendingHeredoc>& heredocs) {
    while (is_digit(peek())) ++pos_;
    static constexpr std::string_view kOps[] = {"&>>", "<<<", "<<-", "&>", "<<", "<>",
                                                "<&",  ">>",  ">&",  ">|", "<",  ">"};
    std::string op;
    for (std::string_view candidate : kOps) {
      if (src_.substr(pos_, candidate.size()) == candidate) {
        op = candidate;
        break;
      }
    }
    pos_ += op.size();
    skip_blanks();
    if (done() || is_meta(peek())) return;  // a syntax error bash would refuse; nothing runs
    ShellWord target = lex_word();
    if (op == "<<" || op == "<<-") heredocs.push_back({0, target.text, op == "<<-", target.quoted});
    if (op == "<<<") {
      cmd.stdin_text = target.text;
      cmd.has_stdin_text = true;
    }
    cmd.redirects.push_back({op, std::move(target)});
  }

  // Reads the bodies of the here-documents opened on the line that just ended.
  void read_heredocs() {
    std::vector<PendingHeredoc> pending = std::move(pending_);
    pending_.clear();
    for (const PendingHeredoc& h : pending) {
      std::string body;
      while (pos_ < src_.size()) {
        std::size_t end = src_.find('\n', pos_);
        if (end == std::string_view::npos) end = src_.size();
        std::string_view line = src_.substr(pos_, end - pos_);
        pos_ = std::min(end + 1, src_.size());
        if (h.strip_tabs) {
          while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
        }
        if (line == h.delimiter) break;
        body.append(line);
        body += '\n';
      }
      if (!h.quoted) body = expand_heredoc(body);
      if (h.step < out_.steps.size()) {
        out_.steps[h.step].command.stdin_text = body;
        out_.steps[h.step].command.has_stdin_text = true;
      }
    }
  }

  // An unquoted here-document expands $VAR, $(...) and `...` (whose commands run).
  std::string expand_heredoc(const std::string& body) {
    ShellWord word;
    Parser inner(body, env_, depth_, out_);
    inner.lex_double_quoted(word, true);
    return word.text;
  }

  // Assignment `NAME=value` (or NAME+=) at the start of a simple command.
  bool try_assignment(ShellCommand& cmd) {
    std::size_t i = pos_;
    if (i >= src_.size() || !is_name_start(src_[i])) return false;
    while (i < src_.size() && is_name_char(src_[i])) ++i;
    const std::string name(src_.substr(pos_, i - pos_));
    if (i < src_.size() && src_[i] == '+') ++i;
    if (i >= src_.size() || src_[i] != '=') return false;
    pos_ = i + 1;
    ShellWord value;
    if (peek() == '(') {  // an array: its words are not a command
      skip_arithmetic();
      value.expanded = value.unknown = true;
    } else if (!done() && !is_meta(peek())) {
      value = lex_word();
    }
    cmd.assignments.emplace_back(name, std::move(value));
    return true;
  }

  void parse_command(int pipeline, int position) {
    ShellCommand cmd;
    cmd.pipeline = pipeline;
    cmd.pipeline_position = position;
    cmd.depth = depth_;
    std::vector<PendingHeredoc> heredocs;
    // After `for`/`case`: the words are lexed (their $(...) runs) but are no command; after
    // `function`: the name.
    bool skip_words = false;
    bool case_header = false;
    int skip_next = 0;
    if (case_depth_ > 0) skip_case_pattern();
    while (!done()) {
      skip_blanks();
      if (done()) break;
      const char c = peek();
      if (c == '\n' || c == ';' || c == '|' || c == ')' || (c == '&' && peek(1) != '>')) break;
      if (c == '#') {
        skip_comment();
        continue;
      }
      if (at_redirect()) {
        parse_redirect(cmd, heredocs);
        continue;
      }
      if (c == '(') {
        if (peek(1) == '(' && cmd.words.empty()) {
          skip_arithmetic();
          continue;
        }
        if (cmd.words.size() == 1) {  // NAME ( ) body: a function definition
          ++pos_;
          skip_blanks();
          if (peek() == ')') ++pos_;
          cmd.words.clear();
          continue;
        }
        if (!cmd.words.empty()) {
          fail("syntax-error");
          return;
        }
        parse_subshell();
        continue;
      }
      if (cmd.words.empty() && !skip_words && try_assignment(cmd)) continue;
      ShellWord word = lex_word();
      if (out_.stopped) return;
      if (skip_words) {
        if (case_header && !word.quoted && word.text == "in") {
          ++case_depth_;  // the patterns and commands of its arms follow
          break;
        }
        continue;
      }
      if (skip_next > 0) {
        --skip_next;
        continue;
      }
      if (cmd.words.empty() && !word.quoted && !word.expanded) {
        if (is_passthrough_word(word.text)) continue;
        if (word.text == "for" || word.text == "select" || word.text == "case") {
          skip_words = true;
          case_header = word.text == "case";
          continue;
        }
        if (word.text == "function") {
          skip_next = 1;
          continue;
        }
      }
      cmd.words.push_back(std::move(word));
    }
    emit(std::move(cmd), heredocs);
  }

  void emit(ShellCommand cmd, std::vector<PendingHeredoc>& heredocs) {
    if (cmd.words.empty() && cmd.redirects.empty() && cmd.assignments.empty()) return;
    if (cmd.words.empty()) learn_assignments(cmd);
    if (++out_.commands > kMaxShellCommands) {
      fail("limit-commands");
      return;
    }
    for (PendingHeredoc& h : heredocs) {
      h.step = out_.steps.size();
      pending_.push_back(std::move(h));
    }
    out_.steps.push_back({ShellStep::Kind::kCommand, std::move(cmd)});
  }

  // `X=rm` on its own sets X for the rest of the script (a literal value only).
  void learn_assignments(const ShellCommand& cmd) {
    for (const auto& [name, value] : cmd.assignments) {
      if (value.unknown) {
        env_.vars.erase(name);
      } else {
        env_.vars[name] = value.text;
      }
      script_vars_.insert(name);
    }
  }

 public:
  ShellWord lex_word() {
    ShellWord word;
    if (peek() == '~' && !env_.home.empty()) {
      std::size_t i = pos_ + 1;
      if (i >= src_.size() || src_[i] == '/' || is_meta(src_[i])) {
        word.text = env_.home;
        ++pos_;
      }
    }
    while (!done()) {
      const char c = peek();
      if ((c == '<' || c == '>') && peek(1) == '(' && word.text.empty()) {
        lex_process_substitution(word);
        continue;
      }
      if (is_meta(c)) break;
      if (c == '\\') {
        if (peek(1) == '\n') {
          pos_ += 2;
          continue;
        }
        word.quoted = true;
        if (pos_ + 1 < src_.size()) word.text += src_[pos_ + 1];
        pos_ += 2;
      } else if (c == '\'') {
        const std::size_t end = src_.find('\'', pos_ + 1);
        if (end == std::string_view::npos) {
          fail("unbalanced-quote");
          return word;
        }
        word.text.append(src_.substr(pos_ + 1, end - pos_ - 1));
        word.quoted = true;
        pos_ = end + 1;
      } else if (c == '"') {
        ++pos_;
        lex_double_quoted(word, false);
      } else if (c == '$') {
        lex_dollar(word);
      } else if (c == '`') {
        lex_backtick(word);
      } else {
        if (c == '*' || c == '?' || c == '[') word.glob = true;
        if (c == '{' && brace_expansion_ahead()) word.unknown = word.expanded = true;
        word.text += c;
        ++pos_;
      }
    }
    return word;
  }

  // Inside "..." (or an unquoted here-document body with `heredoc`, which ends at the end).
  void lex_double_quoted(ShellWord& word, bool heredoc) {
    word.quoted = true;
    while (true) {
      if (done()) {
        if (!heredoc && !out_.stopped) fail("unbalanced-quote");
        return;
      }
      const char c = peek();
      if (c == '"' && !heredoc) {
        ++pos_;
        return;
      }
      if (c == '\\') {
        const char next = peek(1);
        if (next == '\n') {
          pos_ += 2;
        } else if (next == '$' || next == '`' || next == '\\' || (next == '"' && !heredoc)) {
          word.text += next;
          pos_ += 2;
        } else {
          word.text += c;
          ++pos_;
        }
      } else if (c == '$') {
        lex_dollar(word);
      } else if (c == '`') {
        lex_backtick(word);
      } else {
        word.text += c;
        ++pos_;
      }
    }
  }

 private:
  // Whether a `{` may open a brace expansion (`{rm,-rf,/}` is three words): a `,` or `..`
  // follows before the word ends. Conservative, and linear: each stretch of text up to the next
  // metacharacter is scanned once, however many `{` it holds.
  bool brace_expansion_ahead() {
    if (pos_ >= brace_scan_end_) {
      brace_last_separator_ = std::string_view::npos;
      std::size_t i = pos_ + 1;
      for (; i < src_.size() && !is_meta(src_[i]); ++i) {
        if (src_[i] == ',' || (src_[i] == '.' && i + 1 < src_.size() && src_[i + 1] == '.')) {
          brace_last_separator_ = i;
        }
      }
      brace_scan_end_ = i;
    }
    return brace_last_separator_ != std::string_view::npos && brace_last_separator_ > pos_;
  }

  void mark_unknown(ShellWord& word, std::string_view shown) {
    word.expanded = word.unknown = word.script_var = true;
    word.text += shown;
  }

  void substitute(ShellWord& word, const std::string& name) {
    word.expanded = true;
    auto it = env_.vars.find(name);
    if (script_vars_.contains(name)) word.script_var = true;
    if (it == env_.vars.end()) {
      mark_unknown(word, "$" + name);
      return;
    }
    word.text += it->second;
  }

  void lex_dollar(ShellWord& word) {
    const char next = peek(1);
    if (next == '(') {
      if (peek(2) == '(') {
        skip_arithmetic_expansion();
        mark_unknown(word, "$((...))");
        return;
      }
      pos_ += 2;
      run_nested_list();
      mark_unknown(word, "$(...)");
      return;
    }
    if (next == '{') {
      lex_braced_parameter(word);
      return;
    }
    if (next == '\'') {
      pos_ += 2;
      lex_ansi_c(word);
      return;
    }
    if (next == '"') {
      pos_ += 2;
      lex_double_quoted(word, false);
      return;
    }
    if (is_name_start(next)) {
      std::size_t i = pos_ + 1;
      while (i < src_.size() && is_name_char(src_[i])) ++i;
      const std::string name(src_.substr(pos_ + 1, i - pos_ - 1));
      pos_ = i;
      substitute(word, name);
      return;
    }
    if (is_digit(next) || std::string_view("@*#?$!-").find(next) != std::string_view::npos) {
      pos_ += 2;
      mark_unknown(word, std::string("$") + next);
      return;
    }
    word.text += '$';
    ++pos_;
  }

  void skip_arithmetic_expansion() {
    ++pos_;  // at the first '('
    skip_arithmetic();
  }

  void run_nested_list() {
    if (!nest()) return;
    const int case_depth = std::exchange(case_depth_, 0);  // `)` closes this list, no pattern
    enter();
    parse_list(true);
    leave();
    --depth_;
    case_depth_ = case_depth;
  }

  void lex_process_substitution(ShellWord& word) {
    pos_ += 2;
    run_nested_list();
    word.process_substitution = true;
    mark_unknown(word, "<(...)");
  }

  void lex_ansi_c(ShellWord& word) {
    word.quoted = true;
    while (!done()) {
      const char c = src_[pos_];
      if (c == '\'') {
        ++pos_;
        return;
      }
      if (c == '\\') {
        pos_ = decode_ansi_escape(src_, pos_ + 1, word.text);
        continue;
      }
      word.text += c;
      ++pos_;
    }
    fail("unbalanced-quote");
  }

  // ${NAME} substitutes a known NAME; any other form is unknown, and the command substitutions
  // inside it still run, so they are parsed.
  void lex_braced_parameter(ShellWord& word) {
    std::size_t i = pos_ + 2;
    int level = 1;
    while (i < src_.size() && level > 0) {
      const char c = src_[i];
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == '{') ++level;
      if (c == '}') --level;
      ++i;
    }
    if (level > 0) {
      fail("unbalanced-quote");
      return;
    }
    const std::string inner(src_.substr(pos_ + 2, i - pos_ - 3));
    pos_ = i;
    if (!inner.empty() && std::all_of(inner.begin(), inner.end(), is_name_char) &&
        is_name_start(inner[0])) {
      substitute(word, inner);
      return;
    }
    parse_substitutions_in(inner);
    mark_unknown(word, "${" + inner + "}");
  }

  void lex_backtick(ShellWord& word) {
    std::string inner;
    std::size_t i = pos_ + 1;
    while (i < src_.size() && src_[i] != '`') {
      if (src_[i] == '\\' && i + 1 < src_.size()) {
        const char n = src_[i + 1];
        if (n != '`' && n != '\\' && n != '$') inner += '\\';
        inner += n;
        i += 2;
        continue;
      }
      inner += src_[i++];
    }
    if (i >= src_.size()) {
      fail("unbalanced-quote");
      return;
    }
    pos_ = i + 1;
    if (nest()) {
      enter();
      Parser nested(inner, env_, depth_, out_);
      nested.run();
      leave();
      --depth_;
    }
    mark_unknown(word, "`...`");
  }

  std::string_view src_;
  std::size_t pos_ = 0;
  ShellEnv& env_;
  int depth_;
  ShellParse& out_;
  std::vector<PendingHeredoc> pending_;
  std::set<std::string> script_vars_;
  int case_depth_ = 0;  // open `case ... in` whose arms are being read
  std::size_t brace_scan_end_ = 0;
  std::size_t brace_last_separator_ = std::string_view::npos;
};

}  // namespace

void parse_shell(std::string_view text, const ShellEnv& env, int depth, ShellParse& out) {
  if (text.size() > kMaxShellBytes) {
    add_reason(out, "limit-size");
    out.stopped = true;
    return;
  }
  if (depth > kMaxShellDepth) {
    add_reason(out, "limit-depth");
    out.stopped = true;
    return;
  }
  ShellEnv local = env;
  Parser parser(text, local, depth, out);
  parser.run();
}

}  // namespace stepgate
