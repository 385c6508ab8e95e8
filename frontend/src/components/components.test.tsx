import { fireEvent, render, screen } from "@testing-library/react";
import { ErrorBox } from "./ErrorBox";
import { ParamField } from "../pages/ParamField";
import { RoleEditor } from "../pages/RoleEditor";

describe("ErrorBox", () => {
  it("shows the message in an alert, with the roles to give for NO_DESIGN", () => {
    render(<ErrorBox error={{ code: "NO_DESIGN", message: "no design", details: { suggestions: [{ role: "treatment", columns: ["t"], reason: "binary" }] } }} />);
    expect(screen.getByRole("alert").textContent).toContain("no design");
    expect(screen.getByRole("alert").textContent).toContain("give treatment (e.g. t): binary");
  });
  it("renders nothing without an error", () => {
    const { container } = render(<ErrorBox error={null} />);
    expect(container.innerHTML).toBe("");
  });
});

describe("RoleEditor", () => {
  const profiles = [
    { name: "y", kind: "numeric", dtype: "float64", missing: 0, unique: 100 },
    { name: "t", kind: "binary", dtype: "int64", missing: 0, unique: 2 },
    { name: "city", kind: "text", dtype: "object", missing: 0, unique: 100 },
  ];
  it("shows the inferred role's confidence and reason, and reports edits", () => {
    const changes: [string, unknown][] = [];
    render(
      <RoleEditor
        values={{ outcome: "y" }}
        formula=""
        profiles={profiles}
        candidates={{}}
        guesses={{ outcome: { role: "outcome", column: "y", confidence: 0.8, reason: "name 'y' is a usual outcome name", source: "inferred" } }}
        onChange={(r, v) => changes.push([r, v])}
        onFormula={() => undefined}
      />,
    );
    expect(screen.getByText("inferred · 80%")).toBeTruthy();
    expect(screen.getByText(/usual outcome name/)).toBeTruthy();
    const outcome = screen.getByLabelText("Outcome") as HTMLSelectElement;
    expect([...outcome.options].map((o) => o.value)).toEqual(["", "y", "t"]); // no text column
    fireEvent.change(screen.getByLabelText("Treatment"), { target: { value: "t" } });
    expect(changes).toEqual([["treatment", "t"]]);
  });
});

describe("ParamField", () => {
  it("offers the rule's choices with the default first", () => {
    render(
      <ParamField
        estimator="did_cs"
        param={{ name: "control_group", default: "never_treated", rule: "one of 'never_treated', 'not_yet_treated'", doc: "comparison units" }}
        value=""
        invalid={false}
        onChange={() => undefined}
      />,
    );
    const select = screen.getByLabelText(/control_group/) as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(["default (never_treated)", "never_treated", "not_yet_treated"]);
  });
});

describe("RoleEditor suggestions", () => {
  it("shows a suggestion that changes the estimand without applying it, and applies it on request", () => {
    const changes: [string, unknown][] = [];
    render(
      <RoleEditor
        values={{ outcome: "y" }}
        formula=""
        profiles={[
          { name: "y", kind: "numeric", dtype: "float64", missing: 0, unique: 100 },
          { name: "w", kind: "numeric", dtype: "float64", missing: 0, unique: 100, min: 0 },
        ]}
        candidates={{}}
        guesses={{ weight: { role: "weight", column: "w", confidence: 0.5, reason: "weights change the estimand", source: "suggested" } }}
        onChange={(role, value) => changes.push([role, value])}
        onFormula={() => undefined}
      />,
    );
    expect((screen.getByLabelText("Weight") as HTMLSelectElement).value).toBe("");
    expect(screen.getByText("suggested · not applied")).toBeTruthy();
    expect(changes).toEqual([]);
    fireEvent.click(screen.getByRole("button", { name: "Apply the suggested weight w" }));
    expect(changes).toEqual([["weight", "w"]]);
  });
});
