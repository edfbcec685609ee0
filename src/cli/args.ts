// Command-line parse errors in the CLI's words: Node's util.parseArgs texts
// differ between versions and talk about its own syntax ("To specify a
// positional argument starting with a '-' …").
const QUOTED = /'([^']+)'/;

export function usageError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const what = QUOTED.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${what ?? err.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const option = (what ?? err.message).replace(/ <value>$/, '');
      // A value that starts with '-' reads as the next option, unless joined: --key=-x…
      if (/ambiguous/.test(err.message)) return `${option}: a value that starts with '-' goes as ${option.split(', ').pop()}=VALUE`;
      return `${option} needs a value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${what ?? err.message}`;
    default:
      return err.message;
  }
}
