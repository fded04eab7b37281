// Progressive enhancement only: every action works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: shown only where the Clipboard API can work.
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    var field = document.getElementById(btn.dataset.copy);
    var status = btn.closest(".secret") && btn.closest(".secret").querySelector(".copied");
    if (!field || !navigator.clipboard) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) status.textContent = "✓ " + (document.documentElement.lang === "zh-CN" ? "已复制" : "Copied");
      }, function () {
        field.select();
      });
    });
  });
  // APPIDs matter only with the third-party trigger source.
  var third = document.getElementById("ts-third_party_app");
  var appids = document.getElementById("appids-field");
  if (third && appids) {
    var sync = function () { appids.hidden = !third.checked; };
    third.addEventListener("change", sync);
    sync();
  }
  // What a give-up does matters only for an ordered webhook.
  var ordered = document.getElementById("ordered");
  var onFailure = document.getElementById("onfailure-field");
  if (ordered && onFailure) {
    var syncOrdered = function () { onFailure.hidden = !ordered.checked; };
    ordered.addEventListener("change", syncOrdered);
    syncOrdered();
  }
  // The custom waits matter only with the custom schedule.
  var sched = document.getElementById("retrySchedule");
  var waits = document.getElementById("waits-field");
  if (sched && waits) {
    var syncWaits = function () { waits.hidden = sched.value !== "custom"; };
    sched.addEventListener("change", syncWaits);
    syncWaits();
  }
  // Receiver auth: only the chosen method's fields are shown (the server
  // reads only those anyway).
  var authType = document.getElementById("authType");
  if (authType) {
    var syncAuth = function () {
      document.querySelectorAll("[data-auth]").forEach(function (el) { el.hidden = el.dataset.auth !== authType.value; });
    };
    authType.addEventListener("change", syncAuth);
    syncAuth();
  }
  // A secret header's value is typed like a password.
  document.querySelectorAll("input[name=headerSecret]").forEach(function (box) {
    var value = document.getElementById(box.dataset.value);
    if (!value) return;
    box.addEventListener("change", function () { value.type = box.checked ? "password" : "text"; });
  });
  // The payload filter's test box: sent in the background, so the page
  // (and what was typed in it, secrets included) stays; the server answers
  // the whole form, of which only the filter's part is taken.
  var webhookForm = document.getElementById("webhook-form");
  if (webhookForm && window.fetch && window.DOMParser) {
    webhookForm.addEventListener("submit", function (ev) {
      if (!ev.submitter || ev.submitter.id !== "test-filter") return;
      ev.preventDefault();
      var body = new FormData(webhookForm);
      body.append("action", "test-filter");
      var result = document.getElementById("filter-result");
      if (result) result.textContent = "…";
      // getAttribute: the form's property "action" is the button of that name.
      fetch(webhookForm.getAttribute("action"), { method: "POST", body: new URLSearchParams(body), credentials: "same-origin" })
        .then(function (res) { return res.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("filter-field");
          var field = document.getElementById("filter-field");
          if (!fresh || !field) { if (result) result.textContent = "✗"; return; }
          field.className = fresh.className;
          field.innerHTML = fresh.innerHTML;
        })
        .catch(function () { if (result) result.textContent = "✗"; });
    });
  }
  // Delete: the button waits until the name is typed exactly.
  var confirm = document.getElementById("confirmName");
  var del = document.getElementById("confirm-delete");
  if (confirm && del) {
    var check = function () { del.disabled = confirm.value !== confirm.dataset.expect; };
    confirm.addEventListener("input", check);
    check();
  }
});
