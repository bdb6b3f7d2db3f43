// Evidence upload with a progress bar. Without this script the form posts as it is
// (multipart) and the server redirects back to the page: the bar is only a nicety.
(function () {
  "use strict";
  document.querySelectorAll("form.upload").forEach(function (form) {
    var bar = form.querySelector(".upload-progress");
    if (!bar || !window.XMLHttpRequest || !window.FormData) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
      });
      xhr.addEventListener("load", function () {
        // A success is a redirect (followed): show where it led; a refusal is the page
        // with its error next to the field: show it.
        if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
        document.open(); document.write(xhr.responseText); document.close();
      });
      xhr.addEventListener("error", function () { form.submit(); });
      form.querySelector("button[type=submit]").disabled = true;
      xhr.send(new FormData(form));
    });
  });
})();
