export interface CommandContext {
  /** The command's own arguments (after its name; --config already taken out). */
  args: string[];
  /** The whole command line, for --config. */
  argv: string[];
}

export type Command = (ctx: CommandContext) => Promise<number>;
