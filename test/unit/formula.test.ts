import { describe, expect, it } from "vitest";
import { escapeFormula } from "../../src/render/formula.js";

describe("escapeFormula", () => {
  it.each(["-0.75", "-12", "+1", "-0", "-.5", "-1.", "-1e5", "+1.5E-3", "-1.5e+10"])(
    "leaves the plain number %j alone",
    (cell) => {
      expect(escapeFormula(cell)).toBe(cell);
    },
  );

  it.each([
    ["=SUM(A1)", "'=SUM(A1)"],
    ["=1+2", "'=1+2"],
    ["@user", "'@user"],
    ["\t=1", "'\t=1"],
    ["\t42", "'\t42"],
    ["\r=1", "'\r=1"],
    ["-", "'-"],
    ["+", "'+"],
    ["-1+2", "'-1+2"],
    ["+1)*cmd|' /C calc'!A0", "'+1)*cmd|' /C calc'!A0"],
    ["-1,5", "'-1,5"],
    ["- 1", "'- 1"],
    ["-1 ", "'-1 "],
    ["-1\n=cmd", "'-1\n=cmd"],
    ["-Infinity", "'-Infinity"],
    ["-0x1F", "'-0x1F"],
    ["-1e", "'-1e"],
    ["-e5", "'-e5"],
    ["-١٢", "'-١٢"],
    ["\uFF1D1+2", "'\uFF1D1+2"],
    ["\uFF0D1", "'\uFF0D1"],
  ])("escapes %j as %j", (cell, escaped) => {
    expect(escapeFormula(cell)).toBe(escaped);
  });

  it.each(["", "plain", "1e5", "0.75", " =1", "a=1", "'=1"])(
    "leaves %j alone: it does not start like a formula",
    (cell) => {
      expect(escapeFormula(cell)).toBe(cell);
    },
  );
});
