// Forms with a <progress> show how far their files have gone: the form is sent with
// XMLHttpRequest and the answer replaces the page. Without script the form posts as usual.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var bar = form.querySelector("progress");
  if (!bar || !window.FormData || !window.XMLHttpRequest) { return; }
  event.preventDefault();
  var xhr = new XMLHttpRequest();
  xhr.open(form.method || "POST", form.action);
  bar.hidden = false;
  xhr.upload.addEventListener("progress", function (e) {
    if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
  });
  xhr.addEventListener("load", function () {
    var url = xhr.responseURL || form.action;
    document.open();
    document.write(xhr.responseText);
    document.close();
    if (url !== window.location.href) { window.history.replaceState(null, "", url); }
  });
  xhr.addEventListener("error", function () { bar.hidden = true; form.submit(); });
  var button = form.querySelector("button[type=submit]");
  if (button) { button.disabled = true; }
  xhr.send(new FormData(form));
});
