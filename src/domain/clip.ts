/** The longest piece of user input any message or log line repeats (design: Requests). */
export const MAX_ECHO_CHARS = 128;

/**
 * User input as it may appear in an error or a log line: clipped to `max` characters with the
 * full length noted, so a huge value can never be echoed whole.
 */
export function echo(input: string, max = MAX_ECHO_CHARS): string {
  return input.length <= max ? input : `${input.slice(0, max)}... (${input.length} characters)`;
}

/** A whole message clipped to `max` characters. */
export function clipText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (clipped from ${text.length} characters)`;
}
