/**
 * The text a plan's rows are loaded as (bulk-load.ts): fields of COPY's text format, and a row's
 * cells as a JSON object. Built straight into strings, a million rows at a time: a cells object per
 * row (Object.fromEntries) then JSON.stringify, and a regex replace on every field, were a third of
 * the tool's CPU in a load.
 */

/** COPY's text format: these four characters are the only ones a field must escape. */
const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** `value` as one field of COPY's text format. */
export function copyField(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c] ?? c) : value;
}

/** Characters a JSON string must escape (JSON.stringify also escapes lone surrogates). */
const JSON_SPECIAL = /["\\\u0000-\u001f\ud800-\udfff]/;

function jsonString(value: string): string {
  return JSON_SPECIAL.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * For a header, a function from a row's fields to its cells as a JSON object, already a COPY field:
 * `{"header": "value", …}`. It reads in jsonb exactly as JSON.stringify(Object.fromEntries(header,
 * fields)) did: a header named twice keeps its last value in both (jsonb keeps a key's last), and a
 * missing field is "". JSON escapes every tab, line break and control character, so the one
 * character COPY must still escape is the backslash.
 */
export function cellsField(header: readonly string[]): (fields: readonly string[]) => string {
  const keys = header.map((name, i) => `${i === 0 ? "{" : ","}${JSON.stringify(name)}:`);
  return (fields) => {
    let json = "";
    for (let i = 0; i < keys.length; i++) json += keys[i] + jsonString(fields[i] ?? "");
    json += keys.length === 0 ? "{}" : "}";
    return json.includes("\\") ? json.replaceAll("\\", "\\\\") : json;
  };
}
