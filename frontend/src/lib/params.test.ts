import { paramValues, parseValue, widgetFor } from "./params";

const p = (rule: string, name = "x") => ({ name, rule, default: null, doc: "" });

describe("widgetFor", () => {
  it("reads the registry's rules", () => {
    expect(widgetFor(p("one of 'never_treated', 'not_yet_treated'"))).toEqual({
      type: "select",
      options: ["never_treated", "not_yet_treated"],
    });
    expect(widgetFor(p("a bool"))).toEqual({ type: "bool" });
    expect(widgetFor(p("a float in [0, 0.5)"))).toEqual({ type: "number", integer: false, min: 0, max: 0.5 });
    expect(widgetFor(p("an int in [20, 100000]"))).toEqual({ type: "number", integer: true, min: 20, max: 100000 });
    expect(widgetFor(p("an int in [-inf, 2] or None"))).toEqual({ type: "number", integer: true, min: undefined, max: 2 });
    expect(widgetFor(p("a float in (0, inf) or None"))).toMatchObject({ type: "number", min: 0, max: undefined });
    expect(widgetFor(p("a list of units or None"))).toEqual({ type: "text" });
  });
});

describe("parseValue", () => {
  it("leaves empty fields to the default and keeps what the service must judge", () => {
    expect(parseValue({ type: "text" }, "  ")).toBeUndefined();
    expect(parseValue({ type: "number", integer: true }, "12")).toBe(12);
    expect(parseValue({ type: "number", integer: true }, "12x")).toBe("12x"); // the service says why
    expect(parseValue({ type: "bool" }, "false")).toBe(false);
    expect(parseValue({ type: "text" }, "[1, 2]")).toEqual([1, 2]);
    expect(parseValue({ type: "text" }, "Basque Country")).toBe("Basque Country");
    expect(parseValue({ type: "text" }, "1970")).toBe(1970);
  });

  it("collects only the fields typed", () => {
    const params = [p("a float in [0, 0.5)", "trim"), p("one of 'a', 'b'", "link"), p("a bool", "flag")];
    expect(paramValues(params, { trim: "0.1", link: "", flag: "true" })).toEqual({ trim: 0.1, flag: true });
  });
});
