// Long command output: the last lines stay visible, the rest behind "Show all".

export interface OutputTail {
  /** The text shown while folded. */
  text: string;
  /** Lines not shown while folded (0: nothing hidden). */
  hiddenLines: number;
}

/** The last `maxLines` lines of `output` (a trailing newline does not count as a line). */
export function tailLines(output: string, maxLines = 20): OutputTail {
  if (output === "") return { text: "", hiddenLines: 0 };
  const trimmed = output.endsWith("\n") ? output.slice(0, -1) : output;
  // Walk back from the end instead of splitting: output may be megabytes.
  let position = trimmed.length;
  let lines = 0;
  while (lines < maxLines) {
    const previous = trimmed.lastIndexOf("\n", position - 1);
    lines += 1;
    if (previous <= 0) return { text: trimmed, hiddenLines: 0 };
    position = previous;
  }
  let hidden = 0;
  for (let at = trimmed.indexOf("\n"); at !== -1 && at <= position; at = trimmed.indexOf("\n", at + 1)) hidden += 1;
  return { text: trimmed.slice(position + 1), hiddenLines: hidden };
}
