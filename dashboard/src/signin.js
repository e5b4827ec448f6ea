// The sign-in form, shown in place of the data when the API answers 401 (no session, or it
// ended): user name and password go to POST /api/v1/auth/sign-in, which sets the session cookie;
// then `onSignedIn` loads the data, without a reload.

import { ApiError, postJson, setToken } from "./api.js";
import { t } from "./i18n.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function failure(error) {
  if (error instanceof ApiError && error.status === 401) return t("signInWrong");
  if (error instanceof ApiError && error.status === 429) {
    return t("signInLocked", { minutes: Math.max(1, Math.round((error.retryAfterS || 60) / 60)) });
  }
  if (error instanceof ApiError) return t("signInFailed", { status: error.status });
  return String(error);
}

/** Replace the page's content with the sign-in form. */
export function showSignIn(onSignedIn) {
  document.getElementById("controls").replaceChildren();
  const user = el("input", { id: "signin-user", name: "username", autocomplete: "username", required: "" });
  const password = el("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: "" });
  const message = el("p", { id: "signin-message", class: "error", role: "alert" });
  const submit = el("button", { type: "submit", id: "signin-submit" }, t("signIn"));
  const form = el(
    "form",
    { id: "signin", class: "panel signin" },
    el("h2", {}, t("signInTitle")),
    el("label", {}, t("userName"), user),
    el("label", {}, t("password"), password),
    submit,
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.textContent = "";
    try {
      await postJson("/auth/sign-in", { user: user.value.trim(), password: password.value });
      setToken(""); // the session replaces a token that no longer worked
      password.value = "";
      onSignedIn();
    } catch (error) {
      message.textContent = failure(error);
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  document.getElementById("content").replaceChildren(form);
  document.body.dataset.state = "signin";
  user.focus();
}

/** End the session (and forget a token), then show the form. */
export async function signOut(onSignedIn) {
  setToken("");
  try {
    await postJson("/auth/sign-out");
  } finally {
    showSignIn(onSignedIn);
  }
}
