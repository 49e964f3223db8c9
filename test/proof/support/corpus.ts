/**
 * Malformed recipient files. Every one must be refused before anything is sent (exit 2, zero requests
 * at the simulator, no stack trace), with a message naming the row, the column and the rule broken.
 *
 * Rows are spreadsheet rows (the header is row 1). Each file also holds good rows, which must not be
 * listed. For problems of a whole record (its field count, its size, its quoting), the tool's
 * whole-row marker "(row)" stands for the column, as the ragged-row message already does; where the
 * record's quoting goes wrong inside one field, that field's column name is accepted too.
 */

export interface Expected {
  row: number;
  /** Acceptable column names: the one at fault (or the whole-row marker, for whole-record rules). */
  columns: string[];
  rule: RegExp;
}

export interface CorpusCase {
  name: string;
  /** What the brief calls this class of input. */
  family: string;
  bytes: Buffer;
  expect: Expected[];
  /** Rows that are fine and must not be listed. */
  goodRows: number[];
  args?: string[];
}

export const HEADER = "recipient_id,amount,gift_card_name,group_id,start_at,end_at,email";
const GOOD = (id: string): string => `${id},500,,,,,${id.toLowerCase()}@example.com`;

/** A file: the header, good row G1 (row 2), the given lines, then good row G9. */
function file(lines: Array<string | Buffer>, header = HEADER): Buffer {
  const parts: Buffer[] = [Buffer.from(`${header}\n${GOOD("G1")}\n`)];
  for (const line of lines) parts.push(typeof line === "string" ? Buffer.from(line) : line, Buffer.from("\n"));
  parts.push(Buffer.from(`${GOOD("G9")}\n`));
  return Buffer.concat(parts);
}

/** The good rows of `file(lines)`: 2, and the last one. */
function goods(lines: unknown[]): number[] {
  return [2, 3 + lines.length];
}

function one(name: string, family: string, line: string | Buffer, row3: Omit<Expected, "row">, args?: string[]): CorpusCase {
  return { name, family, bytes: file([line]), expect: [{ row: 3, ...row3 }], goodRows: goods([line]), args };
}

const AMOUNT_RULE = /must be a whole number of yen from 1 to 999999, digits only/;
const NAME_TOO_LONG = (n: number): RegExp => new RegExp(`must be at most 40 characters \\(has ${n}\\)`);
const DATE_RULE = /must be a real calendar date written yyyy-MM-dd/;
const UNDECODABLE = (encoding: string): RegExp => new RegExp(`contains bytes that are not valid ${encoding}`);
const WHOLE_ROW = "(row)";

const emojiThumb = "👍🏽"; // 2 code points, 1 grapheme
const family = "👨‍👩‍👧"; // 5 code points (3 people, 2 zero-width joiners), 1 grapheme
const gaComposed = "か\u3099"; // が as か + combining voiced mark: 2 code points

function manyRows(count: number, bad: number, badLine: string): Buffer {
  const lines = [HEADER];
  for (let i = 1; i <= count; i++) lines.push(i === bad ? badLine : GOOD(`R${i}`));
  return Buffer.from(`${lines.join("\n")}\n`);
}

export const CORPUS: CorpusCase[] = [
  // ---- bad quoting ------------------------------------------------------------------------------
  one("quote-never-closed", "bad quoting", `Q1,"500,,,,,q@example.com`, { columns: ["amount", WHOLE_ROW], rule: /quoted field is never closed/ }),
  one("quote-text-after-closing-quote", "bad quoting", `Q1,"50"0,,,,,q@example.com`, { columns: ["amount", WHOLE_ROW], rule: /after a closing quote/ }),
  one("quote-inside-unquoted-field", "bad quoting", `Q1,50"0,,,,,q@example.com`, { columns: ["amount", WHOLE_ROW], rule: /quote/i }),
  {
    name: "quote-error-deep-in-a-big-file",
    family: "bad quoting",
    bytes: manyRows(3000, 1500, `R1500,"50"0,,,,,r@example.com`),
    expect: [{ row: 1501, columns: ["amount", WHOLE_ROW], rule: /after a closing quote/ }],
    goodRows: [2, 1500, 1502],
  },
  // ---- ragged rows ------------------------------------------------------------------------------
  one("ragged-too-few-fields", "ragged rows", "R1,500,,", { columns: [WHOLE_ROW], rule: /has 4 fields but the header has 7/ }),
  one("ragged-too-many-fields", "ragged rows", "R1,500,,,,,r@example.com,extra,more", { columns: [WHOLE_ROW], rule: /has 9 fields but the header has 7/ }),
  {
    name: "ragged-every-other-row",
    family: "ragged rows",
    bytes: file(["R1,500", GOOD("R2"), "R3,500,,,,,,", GOOD("R4")]),
    expect: [
      { row: 3, columns: [WHOLE_ROW], rule: /has 2 fields but the header has 7/ },
      { row: 5, columns: [WHOLE_ROW], rule: /has 8 fields but the header has 7/ },
    ],
    goodRows: [2, 4, 6, 7],
  },
  // ---- NUL bytes --------------------------------------------------------------------------------
  one("nul-in-name", "NUL bytes", "N1,500,abc\u0000def,,,,n@example.com", { columns: ["gift_card_name"], rule: /must not contain control characters/ }),
  one("nul-in-recipient-id", "NUL bytes", "N\u00001,500,,,,,n@example.com", { columns: ["recipient_id"], rule: /must not contain control characters/ }),
  one("nul-in-amount", "NUL bytes", "N1,5\u000000,,,,,n@example.com", { columns: ["amount"], rule: AMOUNT_RULE }),
  one("nul-only-line", "NUL bytes", "\u0000\u0000\u0000\u0000", { columns: [WHOLE_ROW], rule: /has 1 fields but the header has 7/ }),
  // ---- invalid UTF-8 -----------------------------------------------------------------------------
  one(
    "utf8-lone-continuation-forced",
    "invalid UTF-8",
    Buffer.from("U1,500,caf\x80e,,,,u@example.com", "latin1"),
    { columns: ["gift_card_name"], rule: UNDECODABLE("UTF-8") },
    ["--encoding", "utf-8"],
  ),
  one(
    "utf8-truncated-sequence-forced",
    "invalid UTF-8",
    Buffer.concat([Buffer.from("U1,500,テス"), Buffer.from([0xe3, 0x83]), Buffer.from(",,,,u@example.com")]),
    { columns: ["gift_card_name"], rule: UNDECODABLE("UTF-8") },
    ["--encoding", "utf-8"],
  ),
  one(
    "utf8-overlong-slash-forced",
    "invalid UTF-8",
    Buffer.concat([Buffer.from("U1,500,a"), Buffer.from([0xc0, 0xaf]), Buffer.from("b,,,,u@example.com")]),
    { columns: ["gift_card_name"], rule: UNDECODABLE("UTF-8") },
    ["--encoding", "utf-8"],
  ),
  one(
    "utf8-encoded-surrogate-forced",
    "invalid UTF-8",
    Buffer.concat([Buffer.from("U1,500,a"), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from("b,,,,u@example.com")]),
    { columns: ["gift_card_name"], rule: UNDECODABLE("UTF-8") },
    ["--encoding", "utf-8"],
  ),
  one(
    "utf8-invalid-in-recipient-id-forced",
    "invalid UTF-8",
    Buffer.concat([Buffer.from("U"), Buffer.from([0xff]), Buffer.from("1,500,,,,,u@example.com")]),
    { columns: ["recipient_id"], rule: UNDECODABLE("UTF-8") },
    ["--encoding", "utf-8"],
  ),
  one(
    "invalid-in-both-encodings-auto",
    "invalid UTF-8",
    Buffer.concat([Buffer.from("U1,500,a"), Buffer.from([0xff, 0xfe]), Buffer.from("b,,,,u@example.com")]),
    { columns: ["gift_card_name"], rule: UNDECODABLE("Shift_JIS \\(CP932\\)") },
  ),
  one("invalid-in-both-encodings-amount-auto", "invalid UTF-8", Buffer.concat([Buffer.from("U1,5"), Buffer.from([0xfd]), Buffer.from("0,,,,,u@example.com")]), {
    columns: ["amount"],
    rule: UNDECODABLE("Shift_JIS \\(CP932\\)"),
  }),
  // ---- huge fields ------------------------------------------------------------------------------
  one("huge-name-200k-characters", "huge fields", `H1,500,${"名".repeat(200_000)},,,,h@example.com`, {
    columns: ["gift_card_name"],
    rule: NAME_TOO_LONG(200_000),
  }),
  one("huge-recipient-id", "huge fields", `${"H".repeat(5000)},500,,,,,h@example.com`, { columns: ["recipient_id"], rule: /must be at most 256 characters/ }),
  one("huge-amount-digits", "huge fields", `H1,${"9".repeat(10_000)},,,,,h@example.com`, { columns: ["amount"], rule: AMOUNT_RULE }),
  one("huge-record-over-1-MiB", "huge fields", `H1,500,,,,,${"x".repeat(1_200_000)}`, { columns: [WHOLE_ROW, "email"], rule: /larger than 1 MiB/ }),
  // ---- missing or doubled headers -----------------------------------------------------------------
  {
    name: "header-missing-entirely",
    family: "missing or doubled headers",
    bytes: Buffer.from(`A1,500,,,,,a@example.com\n${GOOD("G2")}\n`),
    expect: [{ row: 1, columns: ["recipient_id"], rule: /required column is missing from the header/ }],
    goodRows: [],
  },
  {
    name: "header-without-recipient-id",
    family: "missing or doubled headers",
    bytes: file([], "member,amount,gift_card_name,group_id,start_at,end_at,email"),
    expect: [{ row: 1, columns: ["recipient_id"], rule: /required column is missing from the header/ }],
    goodRows: [],
  },
  {
    name: "header-column-doubled",
    family: "missing or doubled headers",
    bytes: Buffer.from(`recipient_id,amount,amount,email\nA1,500,500,a@example.com\n`),
    expect: [{ row: 1, columns: ["amount"], rule: /header names must be unique/ }],
    goodRows: [],
  },
  one("header-line-doubled", "missing or doubled headers", HEADER, { columns: ["amount"], rule: AMOUNT_RULE }),
  {
    name: "header-reserved-result-column",
    family: "missing or doubled headers",
    bytes: Buffer.from(`recipient_id,amount,status\nA1,500,x\n`),
    expect: [{ row: 1, columns: ["status"], rule: /is reserved for the result file/ }],
    goodRows: [],
  },
  {
    name: "empty-file",
    family: "missing or doubled headers",
    bytes: Buffer.alloc(0),
    expect: [{ row: 1, columns: ["(header)"], rule: /is empty: expected a header row/ }],
    goodRows: [],
  },
  {
    // The tool's convention for a header cell it cannot name is "(header N)", as for undecodable bytes.
    name: "header-empty-name",
    family: "missing or doubled headers",
    bytes: Buffer.from(`recipient_id,,amount\nA1,x,500\n`),
    expect: [{ row: 1, columns: ["(header 2)"], rule: /header names must not be empty/ }],
    goodRows: [2],
  },
  {
    name: "bom-and-blank-lines-only",
    family: "missing or doubled headers",
    bytes: Buffer.from("\uFEFF\n\n\n"),
    expect: [{ row: 1, columns: ["(header)"], rule: /is empty: expected a header row/ }],
    goodRows: [],
  },
  // ---- duplicate recipient ids ------------------------------------------------------------------
  {
    name: "duplicate-recipient-id",
    family: "duplicate recipient ids",
    bytes: file(["D1,500,,,,,d@example.com", GOOD("D2"), "D1,300,,,,,other@example.com"]),
    expect: [{ row: 5, columns: ["recipient_id"], rule: /duplicates row 3/ }],
    goodRows: [2, 3, 4, 6],
  },
  {
    name: "duplicate-of-a-row-far-above",
    family: "duplicate recipient ids",
    bytes: manyRows(1200, 1100, GOOD("R7")),
    expect: [{ row: 1101, columns: ["recipient_id"], rule: /duplicates row 8/ }],
    goodRows: [8, 1100, 1102],
  },
  // ---- amounts ----------------------------------------------------------------------------------
  ...["1e3", "0x10", "-1", "1.5", "1000000", "0", "+500", "05", "５００", " 500", "500 "].map((amount) =>
    one(`amount-${JSON.stringify(amount)}`, "amounts", `M1,"${amount}",,,,,m@example.com`, { columns: ["amount"], rule: AMOUNT_RULE }),
  ),
  // ---- names at the 40-character boundary -------------------------------------------------------
  one("name-41-ascii", "names", `L1,500,${"a".repeat(41)},,,,l@example.com`, { columns: ["gift_card_name"], rule: NAME_TOO_LONG(41) }),
  one("name-41-kana", "names", `L1,500,${"あ".repeat(41)},,,,l@example.com`, { columns: ["gift_card_name"], rule: NAME_TOO_LONG(41) }),
  {
    name: "name-emoji-at-the-boundary",
    family: "names",
    // 38 + 2 code points = 40: fine. 39 + 2 = 41: refused (though it is 40 graphemes).
    bytes: file([`E1,500,${"a".repeat(38)}${emojiThumb},,,,e@example.com`, `E2,500,${"a".repeat(39)}${emojiThumb},,,,e@example.com`]),
    expect: [{ row: 4, columns: ["gift_card_name"], rule: NAME_TOO_LONG(41) }],
    goodRows: [2, 3, 5],
  },
  {
    name: "name-zwj-family-at-the-boundary",
    family: "names",
    bytes: file([`E1,500,${"b".repeat(35)}${family},,,,e@example.com`, `E2,500,${"b".repeat(36)}${family},,,,e@example.com`]),
    expect: [{ row: 4, columns: ["gift_card_name"], rule: NAME_TOO_LONG(41) }],
    goodRows: [2, 3, 5],
  },
  {
    name: "name-combining-marks-at-the-boundary",
    family: "names",
    bytes: file([`C1,500,${gaComposed.repeat(20)},,,,c@example.com`, `C2,500,${"c".repeat(39)}${gaComposed},,,,c@example.com`]),
    expect: [{ row: 4, columns: ["gift_card_name"], rule: NAME_TOO_LONG(41) }],
    goodRows: [2, 3, 5],
  },
  one("name-with-c1-control", "names", `L1,500,abc\u0085def,,,,l@example.com`, { columns: ["gift_card_name"], rule: /must not contain control characters/ }),
  one("name-blank", "names", `L1,500,"   ",,,,l@example.com`, { columns: ["gift_card_name"], rule: /must not be blank/ }),
  // ---- dates ------------------------------------------------------------------------------------
  one("date-2094-02-30", "dates", "T1,500,,,2094-02-30,,t@example.com", { columns: ["start_at"], rule: DATE_RULE }),
  one("date-2026-2-3", "dates", "T1,500,,,,2026-2-3,t@example.com", { columns: ["end_at"], rule: DATE_RULE }),
  one("date-2093-02-29-not-leap", "dates", "T1,500,,,2093-02-29,,t@example.com", { columns: ["start_at"], rule: DATE_RULE }),
  one("date-month-13", "dates", "T1,500,,,2094-13-01,,t@example.com", { columns: ["start_at"], rule: DATE_RULE }),
  one("date-slashes", "dates", "T1,500,,,2026/04/01,,t@example.com", { columns: ["start_at"], rule: DATE_RULE }),
  one("date-end-before-start", "dates", "T1,500,,,2094-07-01,2094-06-30,t@example.com", { columns: ["end_at"], rule: /must not be before start_at/ }),
  // ---- group ids --------------------------------------------------------------------------------
  one("group-id-over-int64", "group ids", "G5,500,,9223372036854775808,,,g@example.com", { columns: ["group_id"], rule: /positive 64-bit integer/ }),
  one("group-id-with-decimals", "group ids", "G5,500,,29952775505428481.0,,,g@example.com", { columns: ["group_id"], rule: /positive 64-bit integer/ }),
];
