// Form fields from a JSON Schema: the subset opstream's job types use
// (type, properties, required, enum, minimum/maximum,
// minLength/maxLength, items, additionalProperties, oneOf with a
// discriminator). Every field has a
// label and the browser's own constraint checks; value() builds the
// JSON the schema describes, leaving out optional fields left empty.

function typeOf(schema) {
  const t = schema && schema.type;
  return Array.isArray(t) ? t.find((x) => x !== "null") : t;
}

function labelled(text, control, hint) {
  const label = document.createElement("label");
  label.append(text);
  if (hint) {
    const small = document.createElement("span");
    small.className = "hint";
    small.textContent = ` ${hint}`;
    label.append(small);
  }
  label.append(control);
  return label;
}

function enumField(schema, name, required) {
  const select = document.createElement("select");
  select.name = name;
  select.required = required;
  if (!required) select.append(new Option("—", ""));
  for (const v of schema.enum) select.append(new Option(String(v), JSON.stringify(v)));
  return { el: labelled(name, select), value: () => (select.value === "" ? undefined : JSON.parse(select.value)) };
}

function numberField(schema, name, required, integer) {
  const input = document.createElement("input");
  input.type = "number";
  input.name = name;
  input.required = required;
  input.step = integer ? "1" : "any";
  if (typeof schema.minimum === "number") input.min = schema.minimum;
  if (typeof schema.maximum === "number") input.max = schema.maximum;
  if (schema.default !== undefined) input.value = schema.default;
  const range = [schema.minimum, schema.maximum].every((v) => typeof v === "number")
    ? `(${schema.minimum} to ${schema.maximum})` : "";
  return { el: labelled(name, input, range), value: () => (input.value === "" ? undefined : Number(input.value)) };
}

function stringField(schema, name, required) {
  const input = document.createElement("input");
  input.name = name;
  input.required = required;
  if (typeof schema.minLength === "number") input.minLength = schema.minLength;
  if (typeof schema.maxLength === "number") input.maxLength = schema.maxLength;
  if (typeof schema.default === "string") input.value = schema.default;
  return { el: labelled(name, input), value: () => (input.value === "" && !required ? undefined : input.value) };
}

function booleanField(schema, name) {
  const input = document.createElement("input");
  input.type = "checkbox";
  input.name = name;
  input.checked = schema.default === true;
  const label = labelled(name, input);
  label.className = "check";
  return { el: label, value: () => input.checked };
}

// Anything outside the subset: a JSON text the server will check.
function jsonField(schema, name, required) {
  const area = document.createElement("textarea");
  area.name = name;
  area.required = required;
  area.rows = 2;
  area.spellcheck = false;
  const field = {
    el: labelled(name, area, "(JSON)"),
    value: () => {
      if (area.value.trim() === "") return undefined;
      try {
        area.setCustomValidity("");
        return JSON.parse(area.value);
      } catch {
        area.setCustomValidity("not valid JSON");
        return undefined;
      }
    },
  };
  area.addEventListener("input", () => field.value());
  return field;
}

function arrayField(schema, name) {
  const box = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = name;
  const list = document.createElement("ol");
  const add = document.createElement("button");
  add.type = "button";
  add.textContent = `Add ${name} item`;
  const items = [];
  add.addEventListener("click", () => {
    const li = document.createElement("li");
    const item = fieldFor(schema.items || {}, `${name} ${items.length + 1}`, true);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${name} item`);
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(item), 1);
      li.remove();
      add.focus();
    });
    li.append(item.el, remove);
    list.append(li);
    items.push(item);
    li.querySelector("input, select, textarea")?.focus();
  });
  box.append(legend, list, add);
  return { el: box, value: () => items.map((i) => i.value()).filter((v) => v !== undefined) };
}

function objectField(schema, name, required, top) {
  const box = document.createElement(top ? "div" : "fieldset");
  if (!top) {
    const legend = document.createElement("legend");
    legend.textContent = name;
    box.append(legend);
  }
  const need = new Set(schema.required || []);
  const children = Object.entries(schema.properties || {}).map(([key, sub]) => {
    const child = fieldFor(sub, key, need.has(key));
    box.append(child.el);
    return [key, child];
  });
  return {
    el: box,
    value: () => {
      const out = {};
      for (const [key, child] of children) {
        const v = child.value();
        if (v !== undefined) out[key] = v;
      }
      return Object.keys(out).length || required || top ? out : undefined;
    },
  };
}

// One of several shapes, told apart by a property (discriminator): a
// choice of its values, and below it the fields of the chosen shape (and
// any the shapes share).
function oneOfField(schema, name, required, top) {
  const prop = schema.discriminator.propertyName;
  const without = (s) => {
    const properties = { ...(s.properties || {}) };
    delete properties[prop];
    return { ...s, oneOf: undefined, discriminator: undefined, properties,
             required: (s.required || []).filter((r) => r !== prop) };
  };
  const box = document.createElement(top ? "div" : "fieldset");
  if (!top) {
    const legend = document.createElement("legend");
    legend.textContent = name;
    box.append(legend);
  }
  const choices = schema.oneOf.flatMap((b) => (b.properties?.[prop]?.enum || []).map((v) => [v, b]));
  const select = document.createElement("select");
  select.name = prop;
  select.required = true;
  for (const [v] of choices) select.append(new Option(v, v));
  const shared = objectField(without(schema), name, true, true);
  const holder = document.createElement("div");
  let branch = null;
  const show = () => {
    branch = objectField(without(choices.find(([v]) => v === select.value)?.[1] || {}), name, true, true);
    holder.replaceChildren(branch.el);
  };
  select.addEventListener("change", show);
  box.append(labelled(prop, select), shared.el, holder);
  show();
  return { el: box, value: () => ({ ...shared.value(), ...branch.value(), [prop]: select.value }) };
}

function fieldFor(schema, name, required, top = false) {
  schema = schema || {};
  if (Array.isArray(schema.oneOf) && schema.discriminator?.propertyName) return oneOfField(schema, name, required, top);
  if (Array.isArray(schema.enum)) return enumField(schema, name, required);
  switch (typeOf(schema)) {
  case "object": return objectField(schema, name, required, top);
  case "array": return arrayField(schema, name);
  case "integer": return numberField(schema, name, required, true);
  case "number": return numberField(schema, name, required, false);
  case "string": return stringField(schema, name, required);
  case "boolean": return booleanField(schema, name);
  default: return jsonField(schema, name, required);
  }
}

// Fills container with the fields of schema; returns () => the value.
export function schemaForm(container, schema) {
  const root = fieldFor(schema, "input", true, true);
  container.replaceChildren(root.el);
  return root.value;
}
