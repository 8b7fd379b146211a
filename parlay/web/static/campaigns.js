// The new-campaign form: the upload's progress while a campaign is sent (htmx reports it).
document.addEventListener("htmx:xhr:progress", (event) => {
  const bar = document.getElementById("upload-progress");
  if (bar && event.detail.lengthComputable) {
    bar.max = event.detail.total;
    bar.value = event.detail.loaded;
  }
});
